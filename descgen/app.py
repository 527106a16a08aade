"""The web demo: type a product title in a browser, see what describe writes for it, why, and what the base model and
the fine-tune would write; and compare's evaluation, searchable.

    python -m descgen.app --profile smoke            # after ./run_all.sh --profile smoke; http://127.0.0.1:7860
    python -m descgen.app --profile cpu --port 8080
    python -m descgen.app --share                    # a public gradio.live link: only when asked

A Gradio Blocks page served on 127.0.0.1, analytics off (it works offline). One predictor (descgen/predictor.py) is
loaded once with its neighbour index and gate and answers every request, one at a time (a queue of concurrency 1:
one generation at a time on a CPU). The **Describe** tab shows for a title: the answer describe writes (the gate's
choice: a sibling's description copied and adapted, or the fine-tune's text, and why), the base model's and the
fine-tune's texts, each with the facts (numbers, units, sizes) its sources do not state highlighted, and the nearest
catalogue rows. The **Evaluation** tab shows compare's table (every system with its CIs) and the side-by-side test
rows, from the files on disk. An empty title, binary junk or a 10,000-character title get a message in the page,
never a traceback; a title over prompt.max_title_tokens is cut, and the page says so.
"""

from __future__ import annotations

import argparse
import os
import sys
import unicodedata
from dataclasses import dataclass, field

from . import config, facts, local_models, stages
from .clean import clean_text
from .config import Config
from .io import read_json, read_jsonl
from .predictor import Predictor
from .prompts import cut_title

# Gradio's highlighted text breaks lines anywhere ("grin d", "ba se": word-break: break-all on a flex row of
# spans): flow its pieces as one paragraph that breaks between words
# Gradio marks a category only by its colour (an inline "background-color: rgba(224, 224, 224, 0.5)" for #e0e0e0, as
# Gradio 6.31 writes it): dropped text is struck through by that grey
DROPPED_COLOUR = "#e0e0e0"
_DROPPED_RGB = ", ".join(str(int(DROPPED_COLOUR[i:i + 2], 16)) for i in (1, 3, 5))  # "224, 224, 224"
CSS = """
#answer-facts .textfield, #base .textfield, #finetuned .textfield { display: block !important;
    word-break: normal !important; overflow-wrap: break-word; }
#answer-facts .token-container, #base .token-container, #finetuned .token-container { display: inline; }
#answer-facts .token[style*="%s"] .text { text-decoration: line-through; }
""" % _DROPPED_RGB
MAX_INPUT_CHARS = 20_000  # beyond this a title box holds a paste, not a title: cut before cleaning (a page's limit)


@dataclass
class Described:
    """What the Describe tab shows for one typed title."""

    message: str = ""                     # why nothing was described (empty, junk), else ""
    notes: list[str] = field(default_factory=list)  # what was done to the title (cut, cleaned)
    title: str = ""
    answer: str = ""
    source: str = ""                      # copied from ... / written by the fine-tune, and the gate's p
    base: str = ""
    finetuned: str = ""
    highlights: dict = field(default_factory=dict)  # text name -> [(piece, "unsupported" | None)]
    neighbours: list[list] = field(default_factory=list)  # [uid, title, similarity]


def check_title(raw: str | None, predictor: Predictor) -> tuple[dict | None, list[str]]:
    """The row describe would make of a typed title (cleaned as describe cleans its input, cut to
    prompt.max_title_tokens when a prompt is made), with notes; or None and the message to show instead."""
    cfg = predictor.cfg
    if raw is None or not raw.strip():
        return None, ["Type a product title."]
    notes = []
    if len(raw) > MAX_INPUT_CHARS:
        raw = raw[:MAX_INPUT_CHARS]
        notes.append(f"Only the first {MAX_INPUT_CHARS:,} characters were read.")
    junk = sum(1 for ch in raw if ch == "\ufffd" or (unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn")
                                                       and ch not in "\t\n\r"))
    if junk > max(2, 0.05 * len(raw)):
        return None, [f"That is not a product title: {junk} of its {len(raw)} characters are control characters or "
                      "binary data."]
    title = clean_text(raw, cfg.data.decode_html, cfg.data.strip_tags)
    if not title:
        return None, ["That title is empty once its markup and spacing are removed."]
    row = {"uid": None, "title": title}  # the whole title finds the neighbours; the prompt shows it cut, as everywhere
    if cut_title(predictor.tokenizer, row, cfg.prompt.max_title_tokens).get("title_truncated"):
        notes.append(f"The title was cut to its first {cfg.prompt.max_title_tokens} tokens "
                     "(prompt.max_title_tokens), as describe cuts it.")
    return row, notes


def describe_title(predictor: Predictor, raw: str | None) -> Described:
    """The Describe tab's content for a typed title: describe's answer for it (predictor.answer), the base model's and
    the fine-tune's texts with the neighbours they were shown, and the unsupported facts of each."""
    row, notes = check_title(raw, predictor)
    if row is None:
        return Described(message=notes[0])
    answer = predictor.answer([row])[0]
    prompted = predictor.prompted([row])
    base = predictor.generate(prompted, base=True)[0].text
    # a written answer is the fine-tune's text for this very prompt: generated once, not twice a request
    tuned = answer.generation.text if answer.source == "written" else predictor.generate(prompted)[0].text
    sources, vouch = facts.row_sources(prompted[0]), [prompted[0]["title"]]
    near = predictor.neighbour_source.nearest([row], predictor.cfg.retrieval.candidates)[0]
    return Described(
        notes=notes, title=answer.title, answer=answer.text, source=answer.source_line, base=base, finetuned=tuned,
        highlights={"answer": answer_marks(answer), "base": facts.highlighted(base, sources, vouch=vouch),
                    "finetuned": facts.highlighted(tuned, sources, vouch=vouch)},
        neighbours=[[n["uid"], n["title"], round(n["similarity"], 3)] for n in near])


def answer_marks(answer) -> list[tuple[str, str | None]]:
    """The answer as it was made: words replaced (this title's variant or value) and text dropped (it stated what the
    title does not) marked in place, and any fact still unsupported (none, by construction: tests/test_copyedit.py)."""
    pieces = []
    for text, label in answer.edit.marked():
        pieces += facts.highlighted(text, answer.sources, own=answer.own) if label is None else [(text, label)]
    return pieces


def evaluation_tables(cfg: Config):
    """compare's systems table and its side-by-side test rows (pandas), or None and a message before compare ran."""
    import pandas as pd

    from .evaluation import systems_table  # 04_compare's table, from compare.json

    report_path, rows_path = stages.path(cfg, "compare_report"), stages.path(cfg, "compare_rows")
    if not report_path.exists() or not rows_path.exists():
        return None, None, (f"No evaluation yet: {report_path} is written by the compare stage "
                            "(./run_all.sh with the same --profile).")
    systems = systems_table(read_json(report_path)).reset_index(names="system")
    columns = ["title", "reference", "gated", "finetuned", "retrieval", "rougeL_gated", "rougeL_finetuned",
               "rougeL_retrieval", "gated_source", "gated_p", "gated_wrong_product", "gated_wrong_facts"]
    rows = pd.DataFrame(read_jsonl(rows_path))
    return systems, rows[[c for c in columns if c in rows]].round(4), ""


def promise_line(cfg: Config) -> str:
    """The gate's precision on the test rows against its promise, in words ("" before compare ran)."""
    path = stages.path(cfg, "compare_report")
    gate = read_json(path).get("gate", {}) if path.exists() else {}
    found = gate.get("test", {}).get("precision")
    if not found or found["value"] is None:
        return ""
    return (f" The gate copies only where the nearest description is this product's "
            f"text with {gate['min_precision']:.0%} precision: on the test rows its copies were right "
            f"{found['value']:.0%} of the time ({found['hits']} of {found['n']}; 95 % CI {found['ci_low']:.0%}–"
            f"{found['ci_high']:.0%}).")


def build(cfg: Config, predictor: Predictor, max_queue: int | None = None):
    """The Gradio Blocks page over one loaded predictor, its queue holding at most `max_queue` waiting requests
    (demo.max_queue by default)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    def on_describe(raw):
        shown = describe_title(predictor, raw)
        notes = " ".join(shown.notes)
        message = f"**{shown.message}**" if shown.message else notes
        return (message, shown.answer, shown.source, shown.highlights.get("answer", []),
                shown.highlights.get("base", []), shown.highlights.get("finetuned", []), shown.neighbours)

    systems, rows, missing = evaluation_tables(cfg)
    colours = {"unsupported": "#f8b4b4", "replaced": "#b8e6b8", "dropped": DROPPED_COLOUR}
    with gr.Blocks(title="Product descriptions from titles", analytics_enabled=False) as page:
        gr.Markdown(f"# Product descriptions from titles\nModel `{cfg.model.name}` with the adapter in "
                    f"`{cfg.paths.adapter_dir}` (profile `{cfg.profile}`).")
        with gr.Tab("Describe"):
            title = gr.Textbox(label="Product title", placeholder="e.g. Girls Ballet Tutu Neon Pink", elem_id="title",
                               max_lines=3)
            button = gr.Button("Describe", variant="primary", elem_id="describe")
            message = gr.Markdown(elem_id="message")
            answer = gr.Textbox(label="Answer: what describe writes for this title", elem_id="answer", lines=4,
                                interactive=False)
            source = gr.Markdown(elem_id="source")
            gr.Markdown("Below, the answer as it was made: words **replaced** by this title's (its variant, its "
                        "size) in green, text **dropped** in grey, struck through (a copied product's own facts, and "
                        "what follows a text's last whole sentence); and the model texts with the numbers, units, "
                        "sizes, colours, formats, names and credited praise that neither the title nor the catalogue "
                        "rows shown state in red.")
            answer_facts = gr.HighlightedText(label="Answer, as made from its source", elem_id="answer-facts",
                                              color_map=colours, show_legend=True, combine_adjacent=True)
            with gr.Row():
                # an unsupported fact coloured and named in the legend, not by a label after each ("10 UNSUPPORTED")
                base = gr.HighlightedText(label="Base model (shown the same neighbours)", elem_id="base",
                                          color_map=colours, show_legend=True, show_inline_category=False,
                                          combine_adjacent=True)
                tuned = gr.HighlightedText(label="Fine-tuned", elem_id="finetuned", color_map=colours,
                                           show_legend=True, show_inline_category=False, combine_adjacent=True)
            neighbours = gr.Dataframe(headers=["uid", "title", "similarity"], label="Nearest catalogue rows",
                                      elem_id="neighbours", interactive=False, wrap=True)
            gr.Examples(examples=[[t] for t in cfg.demo.titles], inputs=title)
            outputs = [message, answer, source, answer_facts, base, tuned, neighbours]
            # one function behind the button, the Enter key and the API (/describe: gradio_client, bench/app_load.py)
            button.click(on_describe, inputs=title, outputs=outputs, api_name="describe")
            title.submit(on_describe, inputs=title, outputs=outputs, api_name=False)
        with gr.Tab("Evaluation"):
            evaluation_tab(gr, cfg, systems, rows, missing)
    # One request at a time: the predictor is one model generating one batch at a time. Requests are never batched
    # together: in bf16 a row's greedy text depends on the rows beside it, and a title must get the text it gets
    # alone. Up to max_queue more wait, each shown its place in the queue; the next is told the page is busy.
    return page.queue(default_concurrency_limit=1, max_size=max_queue or cfg.demo.max_queue)


def evaluation_tab(gr, cfg: Config, systems, rows, missing: str) -> None:
    """The Evaluation tab's content: compare's systems table, the gate's promise kept or not, the test rows."""
    if missing:
        gr.Markdown(missing)
        return
    gr.Markdown("Every system on the test rows (compare.json): ROUGE-L with its 95 % CI against the base model and "
                "against the retrieval floor, side by side with what a shop cannot publish, judged by the true "
                "descriptions: **wrong products** (a copy of another product's description) and **wrong facts** (a "
                "number, size, colour, format, name or credited praise that neither the title nor the real "
                "description states; descgen/facts.py, which the shipped texts are cleaned by, so **wrong numbers**, "
                "a plain judge apart from it, checks it)." + promise_line(cfg))
    gr.Dataframe(value=systems, interactive=False, elem_id="systems", wrap=True)
    gr.Markdown("The test rows side by side; search, or sort by a column's header.")
    gr.Dataframe(value=rows, interactive=False, elem_id="rows", wrap=True, show_search="search", max_height=600)


def serve(page, host: str, port: int, **launch):
    """Start the page (the page's CSS, no footer links); `launch`: Gradio's other launch options."""
    return page.launch(server_name=host, server_port=port, css=CSS, footer_links=[], **launch)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m descgen.app", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default=config.DEFAULT_PROFILE)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--host", default="127.0.0.1", help="the address to serve on (default: this machine only)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="also publish a gradio.live link (needs the internet)")
    parser.add_argument("--max-queue", type=int, default=None,
                        help="requests that may wait while one is answered (default: demo.max_queue)")
    args = parser.parse_args(argv)
    cfg = config.load(args.profile, args.overrides)
    local_models.ensure_for(cfg)
    try:
        predictor = Predictor.load(cfg, adapter=True)
        predictor.gate  # noqa: B018 - read now: a missing gate file is said before the page starts
        if cfg.retrieval.k:
            predictor.neighbour_source.searcher  # noqa: B018 - the index, loaded before the first request
    except stages.MissingArtifact as exc:
        print(f"app: {exc}", file=sys.stderr)
        return 1
    if args.max_queue is not None and args.max_queue < 1:
        parser.error("--max-queue must be at least 1")
    serve(build(cfg, predictor, args.max_queue), args.host, args.port, share=args.share)
    return 0


if __name__ == "__main__":
    sys.exit(main())
