"""Stage 5: type a title, see the base and the fine-tuned description side by side.

One predictor serves both (descgen/predictor.py): the base answer is generated with the adapter disabled, the
fine-tuned one with it, each exactly the text describe and compare give for that title. It is loaded once and kept,
with its neighbour index, for every title typed. With retrieval.k > 0 a title first retrieves its neighbours, both
models are shown them (as the fine-tune was trained), and the table lists them beside the answers.
"""

from __future__ import annotations

from . import stages
from .config import Config
from .io import atomic_write_jsonl
from .predictor import Predictor


def load(cfg: Config) -> Predictor:
    """The fine-tune's predictor (the base model is the same one with its adapter off)."""
    return Predictor.load(cfg, adapter=True)


def side_by_side(predictor: Predictor, titles: list[str], **override):
    """A table: title | base | fine-tuned (| neighbours) | answer | source, for the given decoding (params by default;
    `override` for the widget's controls). `answer` is what describe writes for the title: the gate's choice between
    copying the nearest catalogue description (adapted) and the fine-tune's text; there once compare has fitted the
    gate (gate.json beside the adapter)."""
    import pandas as pd

    rows = [{"title": title} for title in titles]
    prompted = predictor.prompted(rows)
    base = predictor.generate(prompted, base=True, progress="demo: base", **override)
    tuned = predictor.generate(prompted, progress="demo: fine-tuned", **override)
    table = pd.DataFrame({"title": titles, "base": [g.text for g in base], "fine-tuned": [g.text for g in tuned]})
    if predictor.cfg.retrieval.k:
        table["neighbours"] = [" | ".join(f"{n['title']} ({n['similarity']:.2f})" for n in r["neighbours"])
                               for r in prompted]
    if stages.path(predictor.cfg, "gate").exists():  # what describe writes, with the params' decoding
        answers = predictor.answer(rows, progress="demo: answer")
        table["answer"] = [a.text for a in answers]
        table["source"] = [a.source_line for a in answers]
    return table


def run(cfg: Config, predictor: Predictor | None = None):
    """Headless demo: `demo.titles` with the params' decoding, saved to outputs/demo/demo.jsonl."""
    table = side_by_side(predictor or load(cfg), list(cfg.demo.titles))
    atomic_write_jsonl(stages.path(cfg, "demo_rows"), table.to_dict(orient="records"))
    return table


def widget(predictor: Predictor):
    """ipywidgets UI: a title box, greedy / temperature / max tokens, and the two answers side by side."""
    import html

    import ipywidgets as w

    cfg = predictor.cfg
    title = w.Text(value=cfg.demo.titles[0], description="Title", layout=w.Layout(width="70%"))
    sample = w.Checkbox(value=False, description="sample (else greedy)")
    temperature = w.FloatSlider(value=cfg.eval.temperature, min=0.1, max=1.5, step=0.05, description="temperature")
    max_tokens = w.IntSlider(value=cfg.eval.max_new_tokens, min=16, max=512, step=16, description="max tokens")
    button = w.Button(description="Generate", button_style="primary")
    base_out, tuned_out, answer_out = w.HTML(), w.HTML(), w.HTML()

    def on_click(_):
        button.disabled = True
        try:
            table = side_by_side(predictor, [title.value], do_sample=sample.value, temperature=temperature.value,
                                 max_new_tokens=max_tokens.value)
            base_out.value = f"<b>base</b><p>{html.escape(table['base'][0])}</p>"
            tuned_out.value = f"<b>fine-tuned</b><p>{html.escape(table['fine-tuned'][0])}</p>"
            if "neighbours" in table:
                tuned_out.value += f"<small>neighbours shown: {html.escape(table['neighbours'][0])}</small>"
            if "answer" in table:
                answer_out.value = (f"<b>answer (what describe writes)</b><p>{html.escape(table['answer'][0])}</p>"
                                    f"<small>{html.escape(table['source'][0])}</small>")
        finally:
            button.disabled = False

    button.on_click(on_click)
    columns = w.HBox([w.Box([base_out], layout=w.Layout(width="50%")), w.Box([tuned_out], layout=w.Layout(width="50%"))])
    return w.VBox([title, w.HBox([sample, temperature, max_tokens]), button, columns, answer_out])
