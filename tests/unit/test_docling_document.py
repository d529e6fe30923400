"""A page's blocks as a DoclingDocument: items, labels, tables with spans, captions, boxes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("docling_core", reason="the [docling] extra is not installed")

from docling_core.types.doc import (
    CoordOrigin,
    DocItemLabel,
    DoclingDocument,
    PictureItem,
    TableItem,
    TextItem,
)

from docling_hybrid_cli.blocks import Block, markdown_blocks, page_fractions
from docling_hybrid_cli.docling_document import (
    INSTALL_HINT,
    DocPage,
    build_document,
    document_json,
    require_docling_core,
)
from docling_hybrid_cli.errors import UsageError

WIDTH, HEIGHT = 612.0, 792.0
SPANNED = (
    '<table><tr><td rowspan="2">Region</td><td colspan="2">Sales</td></tr>'
    "<tr><td>2024</td><td>2025</td></tr><tr><td>North</td><td>10</td><td>12</td></tr></table>"
)


def box(x1: int, y1: int, x2: int, y2: int) -> tuple[float, float, float, float]:
    """A DeepSeek-OCR grounding box (0-999 grid) as the page fractions the blocks store."""
    return page_fractions((x1, y1, x2, y2), 999)


def deepseek_page() -> tuple[Block, ...]:
    """The shape of a recorded DeepSeek-OCR page: every label the map covers."""
    return (
        Block("title", "# Annual report", (box(100, 40, 900, 80),)),
        Block("sub_title", "## Results by region", (box(100, 100, 500, 130),)),
        Block("text", "Sales grew in every region.", (box(100, 140, 900, 200),)),
        Block("table_caption", "<center>Table 1: sales</center>", (box(530, 210, 905, 230),)),
        Block("table", SPANNED, (box(530, 240, 905, 400),)),
        Block("image", "", (box(100, 420, 500, 700),), ("page-0001-fig-1.jpg",)),
        Block("image_caption", "Figure 1: the map", (box(100, 705, 500, 730),)),
        Block("equation", "\\[ E = mc^2 \\]", (box(100, 760, 500, 800),)),
        Block("footer", "Page 1", (box(450, 960, 550, 980),)),
    )


def build(blocks: tuple[Block, ...] | None = None) -> DoclingDocument:
    return build_document("report", [DocPage(1, WIDTH, HEIGHT, blocks or deepseek_page())])


def texts(doc: DoclingDocument, label: DocItemLabel) -> list[TextItem]:
    return [t for t in doc.texts if t.label == label]


def test_every_label_becomes_its_docling_item() -> None:
    doc = build()
    assert [t.text for t in texts(doc, DocItemLabel.TITLE)] == ["Annual report"]
    (heading,) = texts(doc, DocItemLabel.SECTION_HEADER)
    assert heading.text == "Results by region" and heading.level == 1  # type: ignore[attr-defined]
    assert [t.text for t in texts(doc, DocItemLabel.TEXT)] == ["Sales grew in every region."]
    assert [t.text for t in texts(doc, DocItemLabel.FORMULA)] == ["E = mc^2"]
    (footer,) = texts(doc, DocItemLabel.PAGE_FOOTER)
    assert footer.content_layer.value == "furniture"
    assert len(doc.tables) == 1 and len(doc.pictures) == 1


def test_the_spanned_table_keeps_its_cells_and_spans() -> None:
    (table,) = build().tables
    data = table.data
    assert (data.num_rows, data.num_cols) == (3, 3)
    cells = {(c.start_row_offset_idx, c.start_col_offset_idx): c for c in data.table_cells}
    region, sales = cells[(0, 0)], cells[(0, 1)]
    assert (region.text, region.row_span, region.end_row_offset_idx) == ("Region", 2, 2)
    assert (sales.text, sales.col_span, sales.end_col_offset_idx) == ("Sales", 2, 3)
    assert region.column_header and not cells[(2, 0)].column_header
    assert [c.text for c in table.data.grid[2]] == ["North", "10", "12"]
    assert [c.text for c in table.data.grid[1]] == ["Region", "2024", "2025"]


@pytest.mark.parametrize(
    ("owner", "caption"),
    [("tables", "Table 1: sales"), ("pictures", "Figure 1: the map")],
)
def test_captions_are_linked_to_their_table_or_picture(owner: str, caption: str) -> None:
    doc = build()
    (item,) = getattr(doc, owner)
    assert isinstance(item, TableItem | PictureItem)
    (ref,) = item.captions
    resolved = ref.resolve(doc)
    assert isinstance(resolved, TextItem)
    assert resolved.label == DocItemLabel.CAPTION and resolved.text == caption
    assert resolved.parent is not None and resolved.parent.cref == item.self_ref
    assert item.caption_text(doc) == caption


def test_a_box_lands_where_the_model_saw_it() -> None:
    """x 530-905 of 999 is 53-91 % of the page width; y flips for the bottom-left origin."""
    (table,) = build().tables
    (prov,) = table.prov
    assert prov.page_no == 1
    bbox = prov.bbox
    assert bbox.coord_origin == CoordOrigin.BOTTOMLEFT
    assert bbox.l / WIDTH == pytest.approx(530 / 999, abs=1e-3)
    assert bbox.r / WIDTH == pytest.approx(905 / 999, abs=1e-3)
    top_left = bbox.to_top_left_origin(page_height=HEIGHT)
    assert top_left.t / HEIGHT == pytest.approx(240 / 999, abs=1e-3)
    assert top_left.b / HEIGHT == pytest.approx(400 / 999, abs=1e-3)
    for item in build().texts:
        for p in item.prov:
            assert 0 <= p.bbox.l < p.bbox.r <= WIDTH and 0 <= p.bbox.b < p.bbox.t <= HEIGHT


def test_mixed_page_sizes_keep_their_own_scale() -> None:
    block = Block("text", "x", (box(0, 0, 999, 999),))
    doc = build_document("d", [DocPage(1, 612, 792, (block,)), DocPage(2, 842, 595, (block,))])
    assert {n: (p.size.width, p.size.height) for n, p in doc.pages.items()} == {
        1: (612, 792),
        2: (842, 595),
    }
    first, second = (t.prov[0].bbox for t in doc.texts)
    assert (first.r, first.t) == pytest.approx((612, 792))
    assert (second.r, second.t) == pytest.approx((842, 595))


def test_blocks_without_boxes_cover_the_whole_page() -> None:
    """A backend that answers Markdown only: its structure, each item the whole page."""
    markdown = "# Title\n\n## Part\n\nA paragraph.\n\n| a | b |\n| --- | --- |\n| 1 | 2 |"
    doc = build(markdown_blocks(markdown))
    assert [t.label for t in doc.texts] == [
        DocItemLabel.TITLE,
        DocItemLabel.SECTION_HEADER,
        DocItemLabel.TEXT,
    ]
    (table,) = doc.tables
    assert [[c.text for c in row] for row in table.data.grid] == [["a", "b"], ["1", "2"]]
    bbox = doc.texts[0].prov[0].bbox
    assert (bbox.l, bbox.b, bbox.r, bbox.t) == (0, 0, WIDTH, HEIGHT)


def test_failed_and_empty_pages_are_pages_without_items() -> None:
    doc = build_document(
        "d", [DocPage(1, WIDTH, HEIGHT, None), DocPage(2, WIDTH, HEIGHT, deepseek_page())]
    )
    assert sorted(doc.pages) == [1, 2]
    assert all(p.page_no == 2 for item in doc.texts for p in item.prov)


def test_a_table_that_is_not_one_is_kept_as_text() -> None:
    doc = build((Block("table", "not a table at all"),))
    assert doc.tables == [] and [t.text for t in doc.texts] == ["not a table at all"]


def test_the_json_round_trips() -> None:
    doc = build()
    again = DoclingDocument.model_validate_json(document_json(doc))
    assert again.export_to_dict() == doc.export_to_dict()
    assert "Table 1: sales" in again.export_to_markdown()


def test_without_docling_core_the_error_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "docling_core.types.doc", None)
    with pytest.raises(UsageError, match="docling-core") as caught:
        require_docling_core()
    assert INSTALL_HINT in str(caught.value) and caught.value.exit_code == 2


def test_a_picture_references_its_crop_beside_the_json(tmp_path: Path) -> None:
    """The crop's header gives its size; its resolution is that size over the box's width."""
    figures = tmp_path / "report_images"
    figures.mkdir()
    Image.new("RGB", (400, 280), "white").save(figures / "page-0001-fig-1.jpg")
    page = DocPage(1, WIDTH, HEIGHT, deepseek_page(), figures)
    (picture,) = build_document("report", [page]).pictures
    image = picture.image
    assert image is not None
    assert image.uri == Path("report_images/page-0001-fig-1.jpg")
    assert (image.size.width, image.size.height, image.mimetype) == (400, 280, "image/jpeg")
    box_inches = (page_fractions((100, 420, 500, 700), 999)[2] - 0.1001) * WIDTH / 72
    assert image.dpi == round(400 / box_inches)


@pytest.mark.parametrize("content", [None, b"not an image"], ids=["missing", "garbage"])
def test_a_crop_that_cannot_be_read_leaves_the_picture_without_image(
    tmp_path: Path, content: bytes | None
) -> None:
    if content is not None:
        (tmp_path / "page-0001-fig-1.jpg").write_bytes(content)
    (picture,) = build_document(
        "r", [DocPage(1, WIDTH, HEIGHT, deepseek_page(), tmp_path)]
    ).pictures
    assert picture.image is None and picture.prov


def test_an_embedded_crop_is_its_own_bytes_as_a_data_uri(tmp_path: Path) -> None:
    import base64

    figures = tmp_path / "report_images"
    figures.mkdir()
    Image.new("RGB", (40, 28), "red").save(figures / "page-0001-fig-1.jpg")
    page = DocPage(1, WIDTH, HEIGHT, deepseek_page(), figures, images="embedded")
    (picture,) = build_document("report", [page]).pictures
    assert picture.image is not None
    prefix, data = str(picture.image.uri).split(",", 1)
    assert prefix == "data:image/jpeg;base64"
    assert base64.b64decode(data) == (figures / "page-0001-fig-1.jpg").read_bytes()
    again = DoclingDocument.model_validate_json(document_json(build_document("r", [page])))
    assert again.pictures[0].image is not None and again.pictures[0].image.pil_image is not None


def test_no_images_leaves_pictures_with_their_place_only(tmp_path: Path) -> None:
    Image.new("RGB", (40, 28), "red").save(tmp_path / "page-0001-fig-1.jpg")
    page = DocPage(1, WIDTH, HEIGHT, deepseek_page(), tmp_path, images="none")
    (picture,) = build_document("report", [page]).pictures
    assert picture.image is None and picture.prov and picture.captions


def test_a_markdown_image_is_a_picture_with_its_alt_text_as_caption() -> None:
    doc = build(markdown_blocks("Text.\n\n![A map of the region](fig.png)\n\n![](x.png)"))
    first, second = doc.pictures
    assert [c.resolve(doc).text for c in first.captions] == ["A map of the region"]
    assert not second.captions and first.image is None
    assert first.prov[0].bbox.r == WIDTH, "no box known: the whole page"
