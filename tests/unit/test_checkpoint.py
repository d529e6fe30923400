"""Page checkpoints: what the key depends on, round trips, and what is never stored."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from docling_hybrid_cli.backend_configs import GuardStep
from docling_hybrid_cli.batch import cache_root
from docling_hybrid_cli.blocks import Block
from docling_hybrid_cli.checkpoint import (
    PageCache,
    clear_cache,
    default_cache_dir,
    document_key,
    file_sha256,
)
from docling_hybrid_cli.errors import InputError
from docling_hybrid_cli.pages import AttemptError, Figure, PageResult, PageText
from docling_hybrid_cli.settings import BackendConfig, ConvertSettings, Settings, load_settings

HASH = "ab" * 32


@pytest.fixture
def settings() -> Settings:
    """The shipped defaults (the autouse fixture hides any user config)."""
    return load_settings(environ={}).settings


@pytest.fixture
def cache(tmp_path: Path) -> PageCache:
    """An empty cache for one made-up document."""
    return PageCache(tmp_path / "pages", "doc-key")


def converted(page: int, *, figures: tuple[Figure, ...] = ()) -> PageResult:
    """A converted page with every field the checkpoint keeps set."""
    text = PageText(
        markdown=f"# Page {page}\n\nbody ünïcode",
        backend="deepseek-vllm",
        model="deepseek-ai/DeepSeek-OCR",
        finish_reason="stop",
        prompt_tokens=1000 + page,
        completion_tokens=50 + page,
        cost=0.25,
        figures=figures,
    )
    return PageResult(page=page, text=text, attempts=2, latency_s=1.5)


def with_chain(settings: Settings, **changes: Any) -> list[BackendConfig]:
    """The default chain with its first backend's fields changed."""
    first, *rest = settings.chain
    return [first.model_copy(update=changes), *rest]


ConvertChange = Callable[[ConvertSettings], ConvertSettings]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda c: c.model_copy(update={"dpi": 200}), id="dpi"),
        pytest.param(lambda c: c.model_copy(update={"max_side": 1000}), id="max_side"),
        pytest.param(lambda c: c.model_copy(update={"image_format": "png"}), id="image_format"),
        pytest.param(lambda c: c.model_copy(update={"jpeg_quality": 50}), id="jpeg_quality"),
    ],
)
def test_key_changes_with_render_settings(settings: Settings, change: ConvertChange) -> None:
    """A page rendered differently is a different checkpoint."""
    before = document_key(HASH, settings.convert, settings.chain)
    assert document_key(HASH, change(settings.convert), settings.chain) != before


@pytest.mark.parametrize(
    "changes",
    [
        {"model": "other/model"},
        {"prompt": "Transcribe everything."},
        {"temperature": 0.5},
        {"max_tokens": 1024},
        {"kind": "openai-compatible"},
        {"extra_body": {"top_p": 0.9}},
        {"loop_ladder": [GuardStep(ngram_size=20, window_size=60)]},
    ],
    ids=lambda c: next(iter(c)),
)
def test_key_changes_with_backend_settings(settings: Settings, changes: dict[str, Any]) -> None:
    """Anything that changes what the model writes changes the key."""
    before = document_key(HASH, settings.convert, settings.chain)
    assert document_key(HASH, settings.convert, with_chain(settings, **changes)) != before


def test_key_changes_with_chain_order(settings: Settings) -> None:
    """Another chain (order or members) is another checkpoint."""
    before = document_key(HASH, settings.convert, settings.chain)
    assert document_key(HASH, settings.convert, list(reversed(settings.chain))) != before
    assert document_key(HASH, settings.convert, settings.chain[:1]) != before


@pytest.mark.parametrize(
    "changes",
    [{"timeout_s": 5.0}, {"max_concurrency": 1}, {"base_url": "http://other:9/v1"}],
    ids=lambda c: next(iter(c)),
)
def test_key_ignores_transport_settings(settings: Settings, changes: dict[str, Any]) -> None:
    """Timeouts, concurrency and the server address do not change a page's Markdown."""
    before = document_key(HASH, settings.convert, settings.chain)
    assert document_key(HASH, settings.convert, with_chain(settings, **changes)) == before


def test_key_ignores_concurrency_and_separator(settings: Settings) -> None:
    """Run-shape settings (pages in flight, page separator) keep the checkpoints."""
    before = document_key(HASH, settings.convert, settings.chain)
    convert = settings.convert.model_copy(update={"concurrency": 1, "page_separator": "\n---\n"})
    assert document_key(HASH, convert, settings.chain) == before


def test_key_is_deterministic_and_a_safe_dir_name(settings: Settings) -> None:
    """The same inputs always give the same short hex key."""
    key = document_key(HASH, settings.convert, settings.chain)
    assert key == document_key(HASH, settings.convert, settings.chain)
    assert len(key) == 32
    assert all(c in "0123456789abcdef" for c in key)


def test_key_follows_document_bytes_not_file_name(settings: Settings, tmp_path: Path) -> None:
    """A renamed copy resumes from the same checkpoints; edited bytes do not."""
    original = tmp_path / "report.pdf"
    original.write_bytes(b"%PDF-1.7 same bytes")
    renamed = tmp_path / "elsewhere" / "renamed.pdf"
    renamed.parent.mkdir()
    renamed.write_bytes(original.read_bytes())
    edited = tmp_path / "edited.pdf"
    edited.write_bytes(b"%PDF-1.7 other bytes")

    def key_of(path: Path) -> Path:
        root = tmp_path / "pages"
        return asyncio.run(PageCache.for_document(root, path, settings.convert, settings.chain)).dir

    assert key_of(original) == key_of(renamed)
    assert key_of(original) != key_of(edited)
    assert file_sha256(original) == file_sha256(renamed)


def test_for_document_unreadable_is_an_input_error(settings: Settings, tmp_path: Path) -> None:
    """A document that vanished is reported as an input error, not an OSError."""
    with pytest.raises(InputError, match="does not exist"):
        asyncio.run(
            PageCache.for_document(
                tmp_path, tmp_path / "gone.pdf", settings.convert, settings.chain
            )
        )


def test_round_trip_keeps_every_field(cache: PageCache) -> None:
    """What is stored comes back equal (its Markdown as blocks), marked as from the cache."""
    page = converted(3)
    cache.store(page)
    loaded = cache.load(3)
    assert loaded is not None and page.text is not None
    assert loaded.text == replace(page.text, blocks=page.text.page_blocks())
    assert loaded.page == 3
    assert loaded.from_cache
    assert loaded.ok


def test_round_trip_with_figures(cache: PageCache) -> None:
    """Figure crops are stored beside the entry and restored byte for byte."""
    figures = (
        Figure("page-0002-fig-1.png", b"\x89PNG fake one"),
        Figure("page-0002-fig-2.jpg", bytes(range(256))),
    )
    cache.store(converted(2, figures=figures))
    loaded = cache.load(2)
    assert loaded is not None and loaded.text is not None
    assert loaded.text.figures == figures


def test_missing_page_is_none(cache: PageCache) -> None:
    """A page never stored loads as None, even when others are stored."""
    cache.store(converted(1))
    assert cache.load(2) is None


def test_failed_pages_are_not_stored(cache: PageCache) -> None:
    """A failed page leaves no entry, so the next run retries it."""
    failed = PageResult(page=4, errors=[AttemptError("deepseek-vllm", "HTTP 500", "ServerError")])
    cache.store(failed)
    assert cache.load(4) is None
    assert not cache.dir.exists() or not any(cache.dir.iterdir())


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda entry: entry.write_text("{not json", "utf-8"), id="not-json"),
        pytest.param(lambda entry: entry.write_bytes(b"\xff\xfe\x00"), id="not-utf8"),
        pytest.param(lambda entry: entry.write_text("[1, 2]", "utf-8"), id="not-an-object"),
        pytest.param(lambda entry: entry.write_text("", "utf-8"), id="empty"),
        pytest.param(
            lambda entry: entry.write_text(json.dumps({"format": 1, "page": 1}), "utf-8"),
            id="fields-missing",
        ),
        pytest.param(
            lambda entry: _rewrite(entry, format=999),
            id="other-format",
        ),
        pytest.param(lambda entry: _rewrite(entry, page=7), id="other-page"),
        pytest.param(lambda entry: _rewrite(entry, figures=["lost.png"]), id="figure-missing"),
    ],
)
def test_corrupt_entry_is_ignored(cache: PageCache, corrupt: Callable[[Path], object]) -> None:
    """A damaged or stale entry loads as None (the page is converted again), never raises."""
    cache.store(converted(1))
    entry = next(cache.dir.glob("page-*1.json"))
    corrupt(entry)
    assert cache.load(1) is None


def _rewrite(entry: Path, **changes: Any) -> None:
    record = json.loads(entry.read_text("utf-8"))
    record.update(changes)
    entry.write_text(json.dumps(record), "utf-8")


def test_store_overwrites_and_leaves_no_temp_files(cache: PageCache) -> None:
    """Entries are written atomically: no temporary names remain after a store."""
    cache.store(converted(1))
    cache.store(converted(1, figures=(Figure("f.png", b"x"),)))
    names = [p.name for p in cache.dir.rglob("*")]
    assert not [n for n in names if n.endswith(".tmp")]
    loaded = cache.load(1)
    assert loaded is not None and loaded.text is not None
    assert loaded.text.figures == (Figure("f.png", b"x"),)


def test_clear_forgets_one_document(tmp_path: Path) -> None:
    """clear() removes this document's pages and leaves other documents alone."""
    root = tmp_path / "pages"
    one, other = PageCache(root, "one"), PageCache(root, "other")
    one.store(converted(1))
    other.store(converted(1))
    one.clear()
    assert one.load(1) is None
    assert other.load(1) is not None
    one.clear()  # clearing twice is harmless


def test_clear_cache_removes_everything(tmp_path: Path) -> None:
    """clear_cache() deletes every document and the root, and counts documents."""
    root = tmp_path / "pages"
    for key in ("a", "b", "c"):
        PageCache(root, key).store(converted(1))
    assert clear_cache(root) == 3
    assert not root.exists()


def test_clear_cache_of_missing_root_is_zero(tmp_path: Path) -> None:
    """Clearing a cache that was never created is not an error."""
    assert clear_cache(tmp_path / "never") == 0


def test_default_cache_dir_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """$XDG_CACHE_HOME/docling-hybrid-ocr/pages, else ~/.cache/..."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "docling-hybrid-ocr" / "pages"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "docling-hybrid-ocr" / "pages"


def test_cache_dir_setting_wins(tmp_path: Path) -> None:
    """``[cache] dir`` (here via DOCLING_HYBRID_CACHE__DIR) replaces the XDG location."""
    environ = {"DOCLING_HYBRID_CACHE__DIR": str(tmp_path / "mine")}
    assert cache_root(load_settings(environ=environ).settings) == tmp_path / "mine"
    assert cache_root(load_settings(environ={}).settings) == default_cache_dir()


def test_empty_page_round_trips_with_its_reason(cache: PageCache) -> None:
    """An empty page is a converted page: stored, and loaded back empty with its reason."""
    reason = "no backend found text (deepseek-vllm: empty answer)"
    cache.store(PageResult(page=4, text=PageText(markdown="", empty_reason=reason)))
    loaded = cache.load(4)
    assert loaded is not None and loaded.text is not None
    assert loaded.ok and loaded.empty
    assert loaded.text.empty_reason == reason
    assert loaded.text.markdown == ""


def test_ladder_step_round_trips(cache: PageCache) -> None:
    result = converted(2)
    assert result.text is not None
    result.text = PageText(markdown="# Two", backend="deepseek-vllm", step="guard 40/512")
    cache.store(result)
    loaded = cache.load(2)
    assert loaded is not None and loaded.text is not None
    assert loaded.text.step == "guard 40/512"
    assert not loaded.empty


@pytest.mark.parametrize("bad", [5, ["x"], {"a": 1}])
def test_an_entry_with_a_malformed_reason_is_not_used(cache: PageCache, bad: Any) -> None:
    cache.store(PageResult(page=3, text=PageText(markdown="", empty_reason="blank")))
    entry = next(cache.dir.glob("page-*.json"))
    record = json.loads(entry.read_text("utf-8"))
    entry.write_text(json.dumps({**record, "empty_reason": bad}), "utf-8")
    assert cache.load(3) is None


def test_entries_hold_no_settings_or_keys(cache: PageCache) -> None:
    """An entry holds page text and accounting only: no URL, header or key fields."""
    cache.store(converted(1))
    record = json.loads(next(cache.dir.glob("page-*.json")).read_text("utf-8"))
    assert set(record) == {
        "format",
        "page",
        "markdown",
        "backend",
        "model",
        "finish_reason",
        "prompt_tokens",
        "completion_tokens",
        "cost",
        "response_id",
        "figures",
        "step",
        "empty_reason",
        "blocks",
        "dollars_are_math",
    }


@pytest.mark.parametrize(
    "style", [{"tables": "html"}, {"math": "latex"}, {"tables": "html", "math": "latex"}]
)
def test_key_ignores_the_markdown_style(settings: Settings, style: dict[str, str]) -> None:
    """The style is applied when writing: a re-run in another style finds the same pages."""
    restyled = settings.convert.model_copy(update=style)
    assert document_key(HASH, restyled, settings.chain) == document_key(
        HASH, settings.convert, settings.chain
    )


def test_blocks_round_trip_with_labels_boxes_and_figures(cache: PageCache) -> None:
    figure = Figure(name="page-0004-fig-1.jpg", data=b"\xff\xd8jpeg")
    blocks = (
        Block("sub_title", "## 2 Method", ((0.1121, 0.0601, 0.3003, 0.0801),)),
        Block("image", "", ((0.13, 0.16, 0.86, 0.4),), (figure.name,)),
        Block("table", "<table><tr><td>$5</td></tr></table>", ((0.12, 0.5, 0.87, 0.7),)),
    )
    text = PageText(
        markdown="flat",
        backend="deepseek-vllm",
        figures=(figure,),
        blocks=blocks,
        dollars_are_math=False,
    )
    cache.store(PageResult(page=4, text=text))
    loaded = cache.load(4)
    assert loaded is not None and loaded.text == text


def test_an_entry_from_before_blocks_is_not_reused(cache: PageCache) -> None:
    """A format-1 entry (no blocks) is converted again rather than styled from flat text."""
    cache.store(converted(2))
    entry = next(cache.dir.glob("page-*.json"))
    record = json.loads(entry.read_text("utf-8"))
    del record["blocks"], record["dollars_are_math"]
    entry.write_text(json.dumps({**record, "format": 1}), "utf-8")
    assert cache.load(2) is None


@pytest.mark.parametrize(
    "blocks",
    [
        "not a list",
        [{"label": "text"}],
        [{"label": "image", "text": "", "figures": ["../../../etc/passwd"]}],
        [{"label": "text", "text": "x", "boxes": [[0, 0, 5, 5]]}],
    ],
    ids=["not-a-list", "no-text", "figure-not-in-the-entry", "box-off-the-page"],
)
def test_an_entry_with_malformed_blocks_is_not_used(cache: PageCache, blocks: Any) -> None:
    cache.store(converted(5))
    entry = next(cache.dir.glob("page-*.json"))
    entry.write_text(json.dumps({**json.loads(entry.read_text("utf-8")), "blocks": blocks}))
    assert cache.load(5) is None


@pytest.mark.parametrize("flag", [None, "yes", 1])
def test_an_entry_with_a_malformed_dollar_flag_is_not_used(cache: PageCache, flag: Any) -> None:
    cache.store(converted(6))
    entry = next(cache.dir.glob("page-*.json"))
    record = json.loads(entry.read_text("utf-8"))
    entry.write_text(json.dumps({**record, "dollars_are_math": flag}))
    assert cache.load(6) is None
