"""A tiny X client for the key-press test: one focused window that prints every key it receives.

    DISPLAY=:99 python x_key_recorder.py    # prints "ready", then one keysym name per line
"""

from Xlib import XK, X, display


def main() -> None:
    screen_display = display.Display()
    screen = screen_display.screen()
    window = screen.root.create_window(0, 0, 200, 100, 0, screen.root_depth,
                                       event_mask=X.KeyPressMask | X.StructureNotifyMask)
    window.set_wm_name("kombat key recorder")
    window.map()
    while screen_display.next_event().type != X.MapNotify:
        pass
    window.set_input_focus(X.RevertToParent, X.CurrentTime)  # no window manager: focus it ourselves
    screen_display.sync()
    print("ready", flush=True)
    while True:
        event = screen_display.next_event()
        if event.type == X.KeyPress:
            keysym = screen_display.keycode_to_keysym(event.detail, 0)
            print(XK.keysym_to_string(keysym) or hex(keysym), flush=True)


if __name__ == "__main__":
    main()
