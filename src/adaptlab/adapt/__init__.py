"""Adapting a base model's weights, one folder (or module) a method family, each registering its
methods with `adaptlab.registry`: full training, peft's methods, bottleneck adapters, LoHa."""
