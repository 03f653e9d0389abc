"""What the recorder's and the labeller's windows draw: frames fitted to the window, whatever their shape."""

from __future__ import annotations

import numpy as np

from kombat import screen


def test_a_landscape_frame_fills_the_width_and_a_portrait_one_fits_the_height():
    landscape = screen.fit(np.full((720, 1280, 3), 200, np.uint8))
    assert landscape.shape == (450, screen.WIDTH, 3) and landscape.min() > 0
    portrait = np.full((1920, 1080, 3), 200, np.uint8)  # a phone held upright
    fitted = screen.fit(portrait)
    assert fitted.shape == (screen.MAX_HEIGHT, screen.WIDTH, 3)
    inside = fitted[:, (screen.WIDTH - 253) // 2 + 1: (screen.WIDTH + 253) // 2 - 1]  # 1080 x 450 / 1920 = 253 wide
    assert inside.min() > 0 and fitted[:, :250].max() == 0 and fitted[:, -250:].max() == 0  # centred on black
