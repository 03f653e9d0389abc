"""A temporal head: a GRU over the last `head.window` ticks of embeddings, oldest first.

Causal by construction (the window ends at the tick being decided; play is online). A small
dense layer first brings each tick's embedding down to `head.units`, so the GRU stays small.
"""

from __future__ import annotations


def hidden(embeddings, cfg):
    import keras

    x = keras.layers.TimeDistributed(keras.layers.Dense(cfg.head.units, activation="relu"), name="per_tick")(embeddings)
    if cfg.head.dropout:
        x = keras.layers.Dropout(cfg.head.dropout)(x)
    return keras.layers.GRU(cfg.head.units, unroll=True, name="gru")(x)  # unrolled: a few plain ops in TFLite
