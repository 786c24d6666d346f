"""The composite evaluation in a real browser: an assessor of the command centre enters a township's
score with its evidence in the grid, is told in words when a score is out of range, and saves."""

from __future__ import annotations

from journeys import sign_in, wait_idle

from store import open_store


def _type_in_cell(page, grid, column: float, text: str) -> None:  # type: ignore[no-untyped-def]
    """Select the first row's cell at ``column`` (a fraction of the grid's width), open its editor,
    replace what it holds with ``text`` and commit.

    The grid draws on a canvas; its cell editor is an input in the page's overlay portal. A click
    that lands while the grid is still settling (after a rerun it may only take the focus back)
    opens no editor, so the cell is clicked again until the editor is there to type into.
    """
    editor = page.locator("#portal input, #portal textarea").first
    for _ in range(5):
        grid.evaluate("e => e.scrollIntoView({block: 'center'})")  # the whole grid in view, its first row too
        bounds = grid.bounding_box()
        assert bounds is not None
        page.mouse.click(bounds["x"] + bounds["width"] * column, bounds["y"] + 35 + 17)  # below the header
        page.wait_for_timeout(300)
        page.keyboard.press("Enter")  # the editor opens before the first character is typed
        try:
            editor.wait_for(state="visible", timeout=3_000)
            break
        except Exception:  # no editor yet: the click only focused the grid
            page.keyboard.press("Escape")
    editor.fill(text)
    page.keyboard.press("Enter")
    editor.wait_for(state="hidden", timeout=10_000)
    wait_idle(page)


POINTS, EVIDENCE = 0.42, 0.75  # where the two editable columns are (细项, 满分, 得分, 依据)


def _entry_grid(page, app_url: str):  # type: ignore[no-untyped-def]
    """Sign in as the command centre, open 综合评价 and its entry box; the box and its grid."""
    sign_in(page, app_url, "command")
    page.get_by_role("link", name="综合评价").click()
    box = page.locator("[data-testid=stExpander]").filter(has_text="录入考核分")
    box.get_by_text("录入考核分").click()
    grid = box.locator("[data-testid=stDataFrame]")
    grid.wait_for(timeout=30_000)
    wait_idle(page)
    return box, grid


def test_an_assessor_enters_a_score_with_its_evidence_and_an_out_of_range_one_is_refused_in_words(
    page, app_url, incidents_sqlite_url
):
    box, grid = _entry_grid(page, app_url)
    _type_in_cell(page, grid, POINTS, "9")  # the first row: A4, 0 to 3 points
    _type_in_cell(page, grid, EVIDENCE, "巡查台账第十一册")
    box.get_by_role("button", name="保存 1 项").click()
    box.get_by_text("A4 的得分须在 0 至 3 分之间，填写的是 9。").wait_for(timeout=30_000)

    box, grid = _entry_grid(page, app_url)  # nothing was kept: the assessor starts again
    _type_in_cell(page, grid, POINTS, "2.5")
    _type_in_cell(page, grid, EVIDENCE, "巡查台账第十一册")
    box.get_by_role("button", name="保存 1 项").click()
    page.get_by_text("的 1 项考核分").wait_for(timeout=30_000)

    store = open_store(incidents_sqlite_url)
    entries = [e for e in store.score_entries(store.district().code) if e.entered_by == "command"]
    store.close()
    assert [(e.item_code, e.points, e.evidence) for e in entries] == [("A4", 2.5, "巡查台账第十一册")]
