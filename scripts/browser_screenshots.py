"""Screenshots of the three in-browser explorers on the built book's pages, for the chapters' static
figures (book/images/browser_*.png): each explorer after one interaction (a starting image or scene
chosen, a stroke drawn or a star stamped), in headless Chromium at a 1280-px window, offline.

    make book && .venv/bin/python scripts/browser_screenshots.py _build/html book/images

The pictures show the latency measured as they are taken: take them on a quiet machine.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser_support import chromium_driver, serve  # noqa: E402

PAGES = {
    "draw": ("notebooks/02_training.html", "browser_draw_a_shape.png"),
    "compare": ("notebooks/03_quantization.html", "browser_float_and_int8.png"),
    "scene": ("notebooks/06_segmentation.html", "browser_paint_a_scene.png"),
}


def _wait_for_run(driver: object, root: object, runs: int) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 120, poll_frequency=0.05).until(
        lambda _: root.get_attribute("data-state") == "ready" and int(root.get_attribute("data-runs")) > runs
        and root.get_attribute("data-busy") == "0"
    )  # fmt: skip


def _set(driver: object, root: object, name: str, value: str) -> None:
    driver.execute_script(
        "const c = arguments[0].querySelector(`[data-control=\"${arguments[1]}\"]`); c.value = arguments[2];"
        " c.dispatchEvent(new Event(c.tagName === 'SELECT' ? 'change' : 'input'));",
        root, name, value,
    )  # fmt: skip


def main(html: Path, out: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import WebDriverWait

    out.mkdir(parents=True, exist_ok=True)
    with serve(html) as base, chromium_driver() as driver:
        driver.set_window_size(1280, 1600)
        for kind, (page, name) in PAGES.items():
            driver.get(f"{base}/{page}")
            root = WebDriverWait(driver, 30).until(
                lambda d: [e for e in d.find_elements("css selector", f'[data-browser-model="{kind}"]') if e.get_attribute("data-ready-ms")]
            )[0]
            driver.execute_script("arguments[0].scrollIntoView()", root)
            buttons = root.find_elements("css selector", 'button[data-control^="scene "]' if kind == "scene" else 'button[data-control^="start "]')
            (buttons[1] if kind == "scene" else buttons[0]).click()
            _wait_for_run(driver, root, 0)
            canvas = root.find_element("css selector", "canvas[data-panel=pad]")
            width, height = canvas.size["width"], canvas.size["height"]
            runs = int(root.get_attribute("data-runs"))
            if kind == "scene":  # a star stamped on the scene
                _set(driver, root, "shape", "3")
                _set(driver, root, "shape size", "44")
                ActionChains(driver).move_to_element_with_offset(canvas, int(-0.22 * width), int(0.2 * height)).click().perform()
            else:  # a short stroke across the picture
                _set(driver, root, "brush", "5")
                ActionChains(driver).move_to_element_with_offset(canvas, int(0.25 * width), int(-0.3 * height)).click_and_hold().move_by_offset(
                    int(0.1 * width), int(0.15 * height)).release().perform()  # fmt: skip
            _wait_for_run(driver, root, runs)
            if kind == "draw":
                _set(driver, root, "SE block", "4")
            time.sleep(0.3)
            root.screenshot(str(out / name))
            print(f"{out / name}: top-1 {root.get_attribute('data-top1')}, latency {root.get_attribute('data-latency-ms')} ms")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
