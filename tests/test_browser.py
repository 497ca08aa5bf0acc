"""The smoke website in a real browser: headless Debian Chromium, driven by playwright, served on localhost.

For the landing page and every chapter: no console error, no failed request, no request off this machine,
every image decoded (naturalWidth > 0), every equation typeset by MathJax without a TeX error, no stderr
output and no absolute path of the machine that built it. Every page, at a desktop width (1400 px) and a
phone width (400 px), has no sideways page scroll; full-page screenshots of both go to ``test-artifacts/``.
The explorer page, set through its controls, shows the numbers of the Python planner and laws.
"""

from __future__ import annotations

import functools
import http.server
import math
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from distill_scaling import book, laws, optimal, planner
from distill_scaling.fit_files import load_coefficient_set

pytestmark = [pytest.mark.slow, pytest.mark.browser]

#: Chromium switches: no sandbox (root in a container), no GPU, and no background traffic of its own.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: Generous: the machine that runs the suite may be busy; a page that never loads still fails.
PAGE_TIMEOUT_MS = 120_000

PAGES = ["book/index", *(f"book/executed/{c.name}" for c in book.toc_chapters())]
#: Every page of the site, prose pages included (the layout checks apply to all of them).
ALL_PAGES = [
    *PAGES,
    "book/explorer",
    "book/glossary",
    "book/figure_inventory",
    "book/about",
    "book/references",
]
#: A desktop and a phone: the widths the layout checks run at.
WIDTHS = {"desktop": 1400, "phone": 400}
#: Text that betrays the machine that built the page: an absolute path of a build or home directory.
ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:work|tmp|home|root|usr|opt|var)/[\w.-]+")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the signature of the base class
        pass


@pytest.fixture(scope="module")
def site_url(built_site: Path) -> Iterator[str]:
    """The smoke website served by ``http.server`` on a free localhost port, for this module's tests."""
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser(chromium: Path, tmp_path_factory: pytest.TempPathFactory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(chromium),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


def _open(browser, url: str, settle: bool = True):
    """Open ``url``; return the page and what went wrong while it loaded (console errors, failed requests).

    ``settle`` also waits for the page's web fonts (not for a page that redirects at once).
    """
    page = browser.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    problems: list[str] = []
    host = urlparse(url).netloc

    def on_request(request):
        if urlparse(request.url).scheme in {"http", "https"} and urlparse(request.url).netloc != host:
            problems.append(f"request off this machine: {request.url}")

    page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", on_request)
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
    page.goto(url, wait_until="load")
    if settle:
        page.evaluate("() => document.fonts.ready.then(() => true)")
    return page, problems


def test_entry_point_leads_to_the_landing_page(browser, site_url):
    page, problems = _open(browser, site_url + "/", settle=False)
    page.wait_for_url("**/book/index.html")
    page.wait_for_load_state("load")
    assert page.title().startswith("Distillation Scaling Laws")
    assert not problems
    page.close()


@pytest.mark.parametrize("name", PAGES)
def test_page_renders(browser, site_url, artifacts_dir: Path, name: str):
    page, problems = _open(browser, f"{site_url}/{name}.html")
    try:
        # Sphinx loads MathJax only on pages with math. It typesets after the load event; its startup
        # promise settles when every equation is done.
        has_math = page.evaluate("() => document.querySelectorAll('.math').length > 0")
        if has_math:
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        math = page.evaluate(
            """async () => {
                if (window.MathJax && MathJax.startup) await MathJax.startup.promise;
                return {
                    sources: document.querySelectorAll('.math').length,
                    rendered: document.querySelectorAll('mjx-container').length,
                    errors: Array.from(document.querySelectorAll('mjx-merror')).map(e => e.textContent),
                };
            }"""
        )
        images = page.evaluate(
            """() => Array.from(document.images).map(i => ({src: i.currentSrc || i.src,
                                                            complete: i.complete, width: i.naturalWidth}))"""
        )
        page.screenshot(path=str(artifacts_dir / f"{name.replace('/', '_')}.png"), full_page=True)
    finally:
        page.close()

    assert not problems, "\n".join(problems)
    broken = [i["src"] for i in images if not (i["complete"] and i["width"] > 0)]
    assert not broken, f"images that did not load: {broken}"
    assert images, f"{name} shows no image"
    assert math["rendered"] >= math["sources"], f"equations not typeset: {math}"
    assert not math["errors"], f"TeX errors: {math['errors']}"
    if name == "book/index":
        assert math["rendered"] >= 2, "the landing page's two laws are typeset"


def test_a_figure_enlarges_to_its_full_resolution_and_closes(browser, site_url):
    page, problems = _open(browser, f"{site_url}/{PAGES[1]}.html")
    try:
        shown = page.locator("img.ds-enlargeable").first
        shown.scroll_into_view_if_needed()
        drawn = page.evaluate(
            "() => document.querySelector('img.ds-enlargeable').getBoundingClientRect().width"
        )
        shown.click()
        big = page.locator(".ds-enlarged img")
        big.wait_for()
        natural, width = big.evaluate("i => [i.naturalWidth, i.getBoundingClientRect().width]")
        page.keyboard.press("Escape")
        closed = page.locator(".ds-enlarged").count() == 0
    finally:
        page.close()
    assert not problems, "\n".join(problems)
    assert width == pytest.approx(natural, abs=1) and width > drawn, (natural, width, drawn)
    assert closed


@pytest.mark.parametrize("width", sorted(WIDTHS))
@pytest.mark.parametrize("name", ALL_PAGES)
def test_page_fits_its_width_and_leaks_nothing(browser, site_url, artifacts_dir: Path, name: str, width: str):
    page, _ = _open(browser, f"{site_url}/{name}.html")
    try:
        page.set_viewport_size({"width": WIDTHS[width], "height": 900})
        page.evaluate("async () => { if (window.MathJax && MathJax.startup) await MathJax.startup.promise; }")
        layout = page.evaluate(
            """() => ({view: document.documentElement.clientWidth,
                       page: document.documentElement.scrollWidth,
                       stderr: Array.from(document.querySelectorAll('.stderr, .output.stderr'))
                                    .map(e => e.textContent.slice(0, 200)),
                       text: document.querySelector('.bd-article') ?
                             document.querySelector('.bd-article').innerText : document.body.innerText})"""
        )
        page.screenshot(
            path=str(artifacts_dir / f"{name.replace('/', '_')}@{WIDTHS[width]}.png"), full_page=True
        )
    finally:
        page.close()

    assert layout["page"] <= layout["view"], (
        f"{name} scrolls sideways at {WIDTHS[width]} px: {layout['page']} px wide"
    )
    assert not layout["stderr"], f"{name} shows stderr output: {layout['stderr']}"
    leaked = sorted(set(ABSOLUTE_PATH.findall(layout["text"])))
    assert not leaked, f"{name} shows absolute paths of the build machine: {leaked}"


# --- The explorer page: the laws and the planner in the browser --------------------------------------------

#: (coefficients, N_S, D_S, L_T, C, scenario): every scenario, both sets, flags of each kind (bounds, fitted
#: ranges, a student outside its fitted range), and a budget the planner refuses.
EXPLORER_CASES = [
    ("paper", 1e9, 1e11, 2.3, 1e22, "teacher-inference"),
    ("paper", 3e8, 2e10, 2.5, 3e21, "teacher-pretraining+inference"),
    ("paper", 2e10, 3e11, 1.9, 1e24, "teacher-pretraining"),
    ("ours", 1e5, 3e6, 1.6, 1e15, "best-case"),
    ("ours", 3e4, 1e7, 1.9, 3e14, "teacher-pretraining"),
    ("ours", 1e5, 1e6, 1.3, 1e14, "teacher-inference"),
    ("paper", 1e9, 1e11, 2.3, 1e12, "best-case"),
]
#: "Agree to 4 significant digits": a relative difference below half a unit of the fourth digit.
SIG4 = 5e-5


def _agrees(js: float, py: float, scale: float | None = None) -> bool:
    """``js`` and ``py`` agree to 4 significant digits (of ``scale`` for a difference of two such numbers)."""
    if math.isnan(py):
        return math.isnan(js)
    return abs(js - py) <= SIG4 * abs(scale if scale is not None else py)


def _set_explorer(page, coefficients, student_params, student_tokens, teacher_loss, compute, scenario):
    """Set the explorer through its controls, as a reader does: the selects, then each text box and Enter."""
    page.select_option("#distill-explorer select[name=set]", coefficients)  # resets the set's defaults
    page.select_option("#distill-explorer select[name=scenario]", scenario)
    for name, value in (
        ("student_params", student_params),
        ("student_tokens", student_tokens),
        ("teacher_loss", teacher_loss),
        ("compute", compute),
    ):
        box = page.locator(f"#distill-explorer input[name={name}]")
        box.fill(repr(value))
        box.press("Enter")
    return page.evaluate("() => window.explorer.result")


@pytest.fixture(scope="module")
def explorer_page(browser, site_url):
    page, problems = _open(browser, f"{site_url}/book/explorer.html")
    page.wait_for_function("() => window.explorer && window.explorer.result")
    yield page, problems
    page.close()


@pytest.mark.parametrize("case", EXPLORER_CASES, ids=lambda c: f"{c[0]}-{c[5]}-{c[4]:.0e}")
def test_explorer_shows_the_planners_numbers(explorer_page, case):
    page, problems = explorer_page
    coefficients, N, D, L_T, C, scenario = case
    result = _set_explorer(page, *case)
    assert not problems, "\n".join(problems)
    assert result["inputs"] == {
        "set": coefficients,
        "scenario": scenario,
        "student_params": N,
        "student_tokens": D,
        "teacher_loss": L_T,
        "compute": C,
    }
    cs = load_coefficient_set(coefficients)
    # The law panel: the distillation law and the supervised law of the same student.
    law = result["law"]
    assert _agrees(
        law["student_loss"], float(laws.distillation_loss(N, D, L_T, cs.distillation, cs.supervised))
    )
    assert _agrees(law["supervised_loss"], float(laws.supervised_loss(N, D, cs.supervised)))
    # The plan panel: every quantity of `python -m distill_scaling plan --json`, its flags and warnings.
    shown = result["plan"]
    low, high = (float(x) for x in optimal.compute_range(N, scenario))
    if not low <= C <= high:
        with pytest.raises(ValueError, match="compute"):
            planner.plan(N, C, scenario, cs, max_samples=0)
        assert shown["error"] and "compute" in shown["error"]
        assert page.locator("#distill-explorer .ex-error").is_visible()
        return
    expected = planner.plan(N, C, scenario, cs, max_samples=0)
    q = expected.quantities()
    assert shown["error"] is None
    for key, value in q.items():
        scale = q["supervised_loss"] if key == "advantage" else None  # a difference of two losses
        assert _agrees(shown["quantities"][key], value, scale), (key, shown["quantities"][key], value)
    assert shown["flags"] == {k: list(v) for k, v in expected.flags.items()}
    assert shown["warnings"] == list(expected.warnings)
    # What the reader sees: each value printed to 4 significant digits.
    cells = page.eval_on_selector_all(
        "#distill-explorer td.ex-value", "cells => cells.map(c => [c.dataset.quantity, c.textContent])"
    )
    assert [k for k, _ in cells] == list(planner.QUANTITIES)
    for key, text in cells:
        value = 100 * q[key] if key.endswith("_fraction") else q[key]
        number = float(text.removesuffix(" %"))
        assert text.removesuffix(" %") == format(number, ".4g"), (key, text)
        if value == 0 or not math.isfinite(value):  # a cost the scenario does not count is exactly 0
            assert number == value or (math.isnan(number) and math.isnan(value)), (key, text, value)
        else:  # within rounding of the fourth significant digit
            assert abs(number - value) <= 0.51 * 10 ** (math.floor(math.log10(abs(value))) - 3), (key, text)
    flagged = page.eval_on_selector_all(
        "#distill-explorer tr.ex-flagged td.ex-value", "cells => cells.map(c => c.dataset.quantity)"
    )
    assert sorted(flagged) == sorted(expected.flags)


def test_explorer_sliders_move_the_plan(explorer_page):
    """Dragging a slider (an input event on the range) re-solves the plan for the new value."""
    page, problems = explorer_page
    _set_explorer(page, "paper", 1e9, 1e11, 2.3, 1e22, "teacher-inference")
    before = page.evaluate("() => window.explorer.updates")
    page.eval_on_selector(
        "#distill-explorer input[name=compute-slider]",
        "e => { e.value = '22.5'; e.dispatchEvent(new Event('input', {bubbles: true})); }",
    )
    result = page.evaluate("() => window.explorer.result")
    assert page.evaluate("() => window.explorer.updates") == before + 1
    C = result["inputs"]["compute"]
    assert math.isclose(C, 10**22.5, rel_tol=1e-12)
    expected = planner.plan(1e9, C, "teacher-inference", "paper", max_samples=0).quantities()
    for key in ("teacher_loss", "teacher_params", "student_tokens", "student_loss"):
        assert _agrees(result["plan"]["quantities"][key], expected[key]), key
    assert page.input_value("#distill-explorer input[name=compute]") == format(C, ".4g")
    assert not problems, "\n".join(problems)
