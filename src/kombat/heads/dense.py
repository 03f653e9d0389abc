"""The article's head: Dense(head.units, relu) on the embedding (dropout optional).

With `head.window` > 1 it sees the window's embeddings side by side (flattened), oldest first.
"""

from __future__ import annotations


def hidden(embeddings, cfg):
    import keras

    x = keras.layers.Flatten(name="window")(embeddings)
    x = keras.layers.Dense(cfg.head.units, activation="relu", name="hidden")(x)
    return keras.layers.Dropout(cfg.head.dropout)(x) if cfg.head.dropout else x
