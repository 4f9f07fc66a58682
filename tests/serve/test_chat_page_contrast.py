"""The chat page's colours, measured in real headless Chromium against a real
`wscli serve`: every text at least 4.5:1 and every control boundary at least 3:1 against what
it sits on, in the light and the dark scheme, and name colours that stay distinguishable."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from tests.serve.chat_page_support import (
    open_page,
    raw_client,
    send_from_page,
    wait_line,
    wait_online,
)
from tests.support import requires
from tests.support.serve_process import ServeProcess

pytestmark = requires("chromium")


@pytest.fixture
def server() -> Iterator[ServeProcess]:
    with ServeProcess() as proc:
        yield proc


# ---- contrast ----------------------------------------------------------------------------------

CONTRAST_JS = """() => {
  const parse = (c) => {
    const p = c.match(/[\\d.]+/g).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const hex = (h) => parse(h.trim().replace(/^#(..)(..)(..)$/, (_, r, g, b) =>
    `rgb(${parseInt(r, 16)}, ${parseInt(g, 16)}, ${parseInt(b, 16)})`));
  const lum = ({ r, g, b }) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const ratio = (x, y) => {
    const a = lum(x), b = lum(y);
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c.a > 0) return c;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (typeof el.className === "string" && el.className ? "." + el.className.replace(/ /g, ".") : "");
  const hidden = (el) => el.closest(".visually-hidden") || el.getClientRects().length === 0;
  const text = [], boundary = [];
  for (const el of document.querySelectorAll("body *")) {
    if (hidden(el) || el.disabled) continue;
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.data.trim() !== "");
    const field = el.matches("input, textarea") && el.value !== "";
    if (own || field) {
      text.push([name(el), ratio(parse(getComputedStyle(el).color), background(el))]);
    }
    if (el.matches("input, textarea")) {
      const placeholder = parse(getComputedStyle(el, "::placeholder").color);
      text.push([name(el) + "::placeholder", ratio(placeholder, background(el))]);
    }
    if (el.matches("input, textarea, button:not(.inline)")) {
      // The control's edge against what surrounds it (WCAG 1.4.11).
      const edge = parse(getComputedStyle(el).borderTopColor);
      boundary.push([name(el), ratio(edge, background(el.parentElement))]);
    }
  }
  // Your own messages' edge against their tint and against the page (WCAG 1.4.11): the
  // tint alone was 1.07:1 (light) and 1.34:1 (dark).
  for (const li of document.querySelectorAll("#messages li.mine")) {
    const edge = parse(getComputedStyle(li).boxShadow);
    boundary.push(["own message edge", ratio(edge, background(li))]);
    boundary.push(["own message edge on the page", ratio(edge, background(li.parentElement))]);
  }
  // The focus ring against the composer.
  document.getElementById("text").focus();
  const ring = parse(getComputedStyle(document.getElementById("text")).outlineColor);
  boundary.push(["focus ring", ratio(ring, background(document.getElementById("composer")))]);
  // Every name colour on every background a name sits on (the list, your own messages).
  const root = getComputedStyle(document.documentElement);
  const names = [];
  for (let i = 0; i < 10; i += 1) {
    const colour = hex(root.getPropertyValue("--name-" + i));
    for (const bg of ["--bg", "--mine", "--panel"]) {
      text.push(["--name-" + i + " on " + bg, ratio(colour, hex(root.getPropertyValue(bg)))]);
    }
    names.push([colour.r, colour.g, colour.b]);
  }
  return { text, boundary, names };
}"""


def oklab(rgb: list[float]) -> tuple[float, float, float]:
    """sRGB (0-255) to OKLab (Björn Ottosson's matrices)."""

    def linear(v: float) -> float:
        v /= 255
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(v) for v in rgb)
    lms = [
        (0.4122214708 * r + 0.5363325363 * g + 0.0514459929 * b) ** (1 / 3),
        (0.2119034982 * r + 0.6806995451 * g + 0.1073969644 * b) ** (1 / 3),
        (0.0883024619 * r + 0.2817188376 * g + 0.6299787005 * b) ** (1 / 3),
    ]
    el, m, s = lms
    return (
        0.2104542553 * el + 0.7936177850 * m - 0.0040720468 * s,
        1.9779984951 * el - 2.4285922050 * m + 0.4505937099 * s,
        0.0259040371 * el + 0.7827717662 * m - 0.8086757660 * s,
    )


def fnv_bucket(name: str) -> int:
    """The page's name colour for ``name`` (FNV-1a over UTF-16 code units, mod 10)."""
    h = 0x811C9DC5
    units = name.encode("utf-16-le")
    for i in range(0, len(units), 2):
        h = ((h ^ int.from_bytes(units[i : i + 2], "little")) * 0x01000193) & 0xFFFFFFFF
    return h % 10


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_text_and_control_has_enough_contrast(
    browser: Any, server: ServeProcess, scheme: str
) -> None:
    # Issue 15: names at 3.17:1, the dark Send button at 3.75:1, the placeholder at 4.1:1,
    # the composer's border at 1.42:1.
    page = open_page(browser, server.http_url, nick="me", color_scheme=scheme)
    wait_online(page)
    authors = {}
    for i in range(200):
        authors.setdefault(fnv_bucket(f"user{i}"), f"user{i}")
    assert sorted(authors) == list(range(10))
    for author in authors.values():  # each its own client: authors are the server's
        with raw_client(server.ws_url(f"/chat?nick={author}")) as one:
            one.send(f"{author}: hello https://example.com/ [\u200b]")
            wait_line(page, "text", "hello https://example.com/ [U+200B]", author=author)
    with raw_client(server.ws_url("/chat")) as raw:
        raw.send(b"\x00\x01")
        raw.send("")
        raw.send("x" * 3000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('#messages li .body')]"
            ".some(b => b.textContent === '(empty)')"
        )
    send_from_page(page, "my own message")
    wait_line(page, "text", "my own message", author="me")
    result = page.evaluate(CONTRAST_JS)
    low_text = [(what, round(r, 2)) for what, r in result["text"] if r < 4.5]
    low_edges = [(what, round(r, 2)) for what, r in result["boundary"] if r < 3]
    assert low_text == [], low_text
    assert low_edges == [], low_edges
    assert [what for what, _ in result["boundary"]].count("own message edge") == 1
    measured = {what.split(".")[0] for what, _ in result["text"]}
    assert {"time", "span", "a", "button#send", "textarea#text::placeholder"} <= measured
    # Name colours stay distinguishable: far apart in OKLab (a just-noticeable step is ~0.02).
    colours = [oklab(rgb) for rgb in result["names"]]
    closest = min(math.dist(a, b) for i, a in enumerate(colours) for b in colours[i + 1 :])
    assert closest > 0.1, closest
    page.context.close()
