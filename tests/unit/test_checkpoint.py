"""Page checkpoints: what the key depends on, round trips, and what is never stored."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pdfgen import make_pdf

from docling_hybrid_cli.backend_configs import GuardStep, TesseractConfig, backend_config
from docling_hybrid_cli.batch import cache_root
from docling_hybrid_cli.blocks import Block
from docling_hybrid_cli.checkpoint import (
    FIGURE_PREFIX_PLACEHOLDER,
    Checkpoints,
    PageCache,
    clear_cache,
    default_cache_dir,
    document_key,
)
from docling_hybrid_cli.pages import AttemptError, Figure, PageResult, PageText
from docling_hybrid_cli.quality.record import Answer, PageQuality
from docling_hybrid_cli.render import RenderOptions
from docling_hybrid_cli.settings import BackendConfig, ConvertSettings, Settings, load_settings
from docling_hybrid_cli.sources import open_source

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
    original = make_pdf(tmp_path / "report.pdf", 2)
    renamed = tmp_path / "elsewhere" / "renamed.pdf"
    renamed.parent.mkdir()
    renamed.write_bytes(original.read_bytes())
    edited = make_pdf(tmp_path / "edited.pdf", 3)
    warnings: list[str] = []
    checkpoints = Checkpoints(
        tmp_path / "pages", settings.convert, settings.chain, warn=warnings.append
    )

    def key_of(path: Path) -> Path:
        async def go() -> Path:
            async with open_source(path, RenderOptions()) as source:
                cache = await checkpoints.for_source(source, "x_images/")
            assert cache is not None
            return cache.dir

        return asyncio.run(go())

    assert key_of(original) == key_of(renamed)
    assert key_of(original) != key_of(edited)
    assert warnings == []


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
        pytest.param(lambda entry: _rewrite(entry, cost=float("nan")), id="nan-cost"),
        pytest.param(lambda entry: _rewrite(entry, prompt_tokens="many"), id="text-tokens"),
        pytest.param(lambda entry: _rewrite(entry, markdown=["not", "text"]), id="markdown-list"),
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
        "quality",
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


def test_quality_round_trips(cache: PageCache) -> None:
    """A cached page is reported as the run that converted it saw it: scores, suspect, verify."""
    quality = PageQuality(
        agreement=0.41,
        precision=0.3,
        recall=0.95,
        suspect="invented",
        answers=(Answer("a", 0.41, 0.3, 0.95), Answer("b", error="HTTP 503")),
        kept="a",
    )
    cache.store(PageResult(page=4, text=PageText(markdown="x", backend="a"), quality=quality))
    loaded = cache.load(4)
    assert loaded is not None and loaded.quality == quality


@pytest.mark.parametrize(
    "bad",
    [{"agreement": 7}, {"suspect": "bogus"}, "high", {"answers": [{"agreement": 0.5}]}],
)
def test_an_entry_with_a_malformed_quality_is_not_used(cache: PageCache, bad: Any) -> None:
    cache.store(PageResult(page=5, text=PageText(markdown="x", backend="a")))
    entry = next(cache.dir.glob("page-*.json"))
    record = json.loads(entry.read_text("utf-8"))
    entry.write_text(json.dumps({**record, "quality": bad}), "utf-8")
    assert cache.load(5) is None


# --------------------------------------------------------------------------- key completeness


@pytest.mark.parametrize(
    ("table", "field", "value"),
    [
        pytest.param({"name": "tesseract"}, "lang", "deu", id="tesseract-lang"),
        pytest.param({"name": "tesseract"}, "psm", 6, id="tesseract-psm"),
        pytest.param(
            {"name": "openai-compatible", "model": "m"}, "omit_temperature", True, id="omit-temp"
        ),
        pytest.param(
            {"name": "openai-compatible", "model": "m"},
            "token_limit_field",
            "max_completion_tokens",
            id="token-field",
        ),
        pytest.param({"name": "deepseek-mlx", "model": "m"}, "max_tokens", 99, id="mlx-tokens"),
        pytest.param(
            {"name": "openrouter", "model": "m"}, "prompt", "Read.", id="openrouter-prompt"
        ),
    ],
)
def test_key_changes_with_each_familys_output_fields(
    settings: Settings, table: dict[str, Any], field: str, value: Any
) -> None:
    """Each family's config model says what changes its output; all of it keys the cache."""
    before = backend_config(**table)
    after = backend_config(**{**table, field: value})
    key = document_key(HASH, settings.convert, [before])
    assert document_key(HASH, settings.convert, [after]) != key


@pytest.mark.parametrize(
    ("table", "field", "value"),
    [
        pytest.param(
            {"name": "openrouter", "model": "m"}, "referer", "https://a.example", id="ref"
        ),
        pytest.param({"name": "openrouter", "model": "m"}, "title", "Mine", id="title"),
        pytest.param({"name": "deepseek-vllm"}, "headers", {"X-Api-Key": "k"}, id="headers"),
        pytest.param({"name": "deepseek-vllm"}, "requests_per_minute", 10.0, id="rpm"),
        pytest.param({"name": "deepseek-vllm"}, "api_key_env", "MY_KEY", id="key-env"),
        pytest.param({"name": "tesseract"}, "max_concurrency", 1, id="tesseract-concurrency"),
    ],
)
def test_key_ignores_fields_a_family_declares_neutral(
    settings: Settings, table: dict[str, Any], field: str, value: Any
) -> None:
    """Attribution, authentication and rate settings do not change a page's Markdown."""
    before = backend_config(**table)
    after = backend_config(**{**table, field: value})
    assert document_key(HASH, settings.convert, [after]) == document_key(
        HASH, settings.convert, [before]
    )


def test_a_field_added_later_keys_the_cache_until_declared_neutral() -> None:
    """Complete by construction: a new field is in the key unless listed in cache_key_ignores."""

    class Extended(TesseractConfig):
        oem: int = 1

    assert Extended(name="t").output_identity()["oem"] == 1
    assert "timeout_s" not in Extended(name="t").output_identity()


# --------------------------------------------------------------------------- figures


def test_stored_links_hold_a_placeholder_and_load_with_the_current_prefix(tmp_path: Path) -> None:
    """Resuming into another output name links figures to that output's own folder."""
    figure = Figure("page-0001-fig-1.jpg", b"jpeg bytes")
    page = converted(1, figures=(figure,))
    assert page.text is not None
    page.text = PageText(
        markdown="see old_images/ below\n\n![](old_images/page-0001-fig-1.jpg)\n",
        figures=(figure,),
    )
    PageCache(tmp_path, "key", figure_prefix="old_images/").store(page)
    stored = json.loads(next(tmp_path.rglob("page-*.json")).read_text("utf-8"))
    assert f"![]({FIGURE_PREFIX_PLACEHOLDER}page-0001-fig-1.jpg)" in stored["markdown"]
    assert "](old_images/" not in stored["markdown"]

    loaded = PageCache(tmp_path, "key", figure_prefix="new_images/").load(1)
    assert loaded is not None and loaded.text is not None
    assert loaded.text.markdown == "see old_images/ below\n\n![](new_images/page-0001-fig-1.jpg)\n"
    assert loaded.text.figures == (figure,)


@pytest.mark.parametrize(
    "name", ["../../escaped.jpg", "/tmp/abs.jpg", "a/b.jpg", ".hidden", "..", "", 7, None]
)
def test_doctored_figure_name_refuses_the_page(cache: PageCache, name: object) -> None:
    """A figure name that is not a plain file name makes the entry unusable (re-converted)."""
    cache.store(converted(1, figures=(Figure("f.jpg", b"x"),)))
    (cache.root / "escaped.jpg").write_bytes(b"planted")  # what ../../escaped.jpg would read
    _rewrite(next(cache.dir.glob("page-*1.json")), figures=[name])
    assert cache.load(1) is None


def test_unsafe_figure_name_is_never_stored(tmp_path: Path) -> None:
    """A figure named like a path turns checkpoints off rather than writing outside the cache."""
    warnings: list[str] = []
    owner = Checkpoints(tmp_path / "pages", ConvertSettings(), [], warn=warnings.append)
    cache = PageCache(owner.root, "key", owner=owner)
    cache.store(converted(1, figures=(Figure("../../out.jpg", b"x"),)))
    assert not (tmp_path / "out.jpg").exists()
    assert not owner.on and len(warnings) == 1


# --------------------------------------------------------------------------- the cache dir


class FakeSource:
    """What Checkpoints needs from an open document."""

    def __init__(self, *, encrypted: bool = False) -> None:
        self.encrypted = encrypted

    async def content_sha256(self) -> str:
        return HASH


def checkpoints_at(root: Path, **options: Any) -> tuple[Checkpoints, list[str]]:
    warnings: list[str] = []
    return Checkpoints(root, ConvertSettings(), [], warn=warnings.append, **options), warnings


def open_cache(checkpoints: Checkpoints, source: FakeSource | None = None) -> PageCache | None:
    return asyncio.run(checkpoints.for_source(source or FakeSource(), "doc_images/"))


def test_cache_dirs_are_created_private(tmp_path: Path, umask_022: None) -> None:
    """Every directory the cache creates is 0700, parents included (mkdir -p would give 0755)."""
    checkpoints, warnings = checkpoints_at(tmp_path / "xdg" / "docling-hybrid-ocr" / "pages")
    cache = open_cache(checkpoints)
    assert cache is not None
    cache.store(converted(1, figures=(Figure("f.jpg", b"x"),)))
    for directory in [
        tmp_path / "xdg",
        tmp_path / "xdg" / "docling-hybrid-ocr",
        checkpoints.root,
        cache.dir,
        cache.dir / "figures",
    ]:
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    assert warnings == []


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def _make_shared(root: Path, how: str) -> None:
    if how == "not-a-dir":
        root.parent.mkdir(parents=True)
        root.write_text("a file")
        return
    root.mkdir(parents=True)
    if how == "group-writable":
        root.chmod(0o770)
    elif how == "world-writable":
        root.chmod(0o1777)
    elif how == "other-owner":
        if os.geteuid() != 0:
            pytest.skip("only root can give a directory to another user")
        os.chown(root, 65534, 65534)


@pytest.mark.parametrize("how", ["group-writable", "world-writable", "other-owner", "not-a-dir"])
def test_unsafe_cache_dir_turns_checkpoints_off_with_one_warning(tmp_path: Path, how: str) -> None:
    """A root others can write (or own) is refused: a warning, no cache, no crash."""
    root = tmp_path / "shared" / "pages"
    _make_shared(root, how)
    checkpoints, warnings = checkpoints_at(root)
    assert open_cache(checkpoints) is None
    assert open_cache(checkpoints) is None  # the next document: still off, no second warning
    assert len(warnings) == 1
    assert warnings[0].startswith("warning: ") and str(root) in warnings[0]
    assert "off for the rest of this run" in warnings[0]
    if root.is_dir():
        assert not any(root.iterdir())


def test_unsafe_document_dir_is_refused(tmp_path: Path) -> None:
    """The document's own directory is checked too (an old run may have left it shared)."""
    checkpoints, _ = checkpoints_at(tmp_path / "pages")
    cache = open_cache(checkpoints)
    assert cache is not None
    cache.dir.mkdir(mode=0o700)
    cache.dir.chmod(0o777)
    later, more = checkpoints_at(tmp_path / "pages")
    assert open_cache(later) is None
    assert len(more) == 1 and "writable by other users" in more[0]


def test_failed_checkpoint_write_warns_once_and_the_pages_go_on(tmp_path: Path) -> None:
    """A checkpoint that cannot be written turns the run's cache off; storing never raises."""
    checkpoints, warnings = checkpoints_at(tmp_path / "pages")
    cache = open_cache(checkpoints)
    assert cache is not None
    cache.store(converted(1))
    (cache.dir / "page-00002.json").mkdir()  # the rename onto it fails (EISDIR)
    cache.store(converted(2))
    cache.store(converted(3))
    assert len(warnings) == 1 and "cannot write" in warnings[0], warnings
    assert not cache.active and not checkpoints.on
    assert cache.load(1) is not None  # what was stored is still read
    assert cache.load(3) is None
    assert open_cache(checkpoints) is None  # and the next document has no cache


def test_encrypted_documents_are_not_checkpointed_unless_asked(tmp_path: Path) -> None:
    """A password-protected document gets no cache (one note per run) unless cache_encrypted."""
    checkpoints, notes = checkpoints_at(tmp_path / "pages")
    assert open_cache(checkpoints, FakeSource(encrypted=True)) is None
    assert open_cache(checkpoints, FakeSource(encrypted=True)) is None
    assert len(notes) == 1 and notes[0].startswith("note: ")
    assert open_cache(checkpoints, FakeSource()) is not None
    allowed, quiet = checkpoints_at(tmp_path / "pages", cache_encrypted=True)
    assert open_cache(allowed, FakeSource(encrypted=True)) is not None
    assert quiet == []
