"""The article's head: Dense(head.units, relu) on the embedding (dropout optional)."""

from __future__ import annotations


def hidden(embeddings, cfg):
    import keras

    x = keras.layers.Dense(cfg.head.units, activation="relu", name="hidden")(embeddings)
    return keras.layers.Dropout(cfg.head.dropout)(x) if cfg.head.dropout else x
