"""Stage 5: type a title, see the base and the fine-tuned description side by side.

One copy of the weights serves both: the base answer is generated with the adapter disabled. With retrieval.k > 0
a typed title retrieves its neighbours from prepare's index, both models are shown them (as the fine-tune was
trained), and the table lists them beside the answers.
"""

from __future__ import annotations

from . import modeling, retrieval, stages
from .config import Config
from .generate import generate
from .io import atomic_write_jsonl


def load(cfg: Config):
    """(model with adapter, tokenizer, stop ids)."""
    model, tokenizer = modeling.load_for_inference(cfg, adapter=True)
    return model, tokenizer, modeling.stop_token_ids(model, tokenizer)


def side_by_side(cfg: Config, model, tokenizer, stop_ids, titles: list[str], **override):
    """A table: title | base | fine-tuned, for the given decoding (params by default; override for the demo)."""
    import pandas as pd

    rows = retrieval.with_neighbours(cfg, tokenizer, [{"title": title} for title in titles])
    base = generate(model, tokenizer, cfg.prompt, rows, cfg.eval, stop_ids, base=True, progress="demo: base",
                    **override)
    tuned = generate(model, tokenizer, cfg.prompt, rows, cfg.eval, stop_ids, base=False, progress="demo: fine-tuned",
                     **override)
    table = pd.DataFrame({"title": titles, "base": [g.text for g in base], "fine-tuned": [g.text for g in tuned]})
    if cfg.retrieval.k:
        table["neighbours"] = [" | ".join(f"{n['title']} ({n['similarity']:.2f})" for n in r["neighbours"])
                               for r in rows]
    return table


def run(cfg: Config, model=None, tokenizer=None, stop_ids=None):
    """Headless demo: `demo.titles` with the params' decoding, saved to outputs/demo/demo.jsonl."""
    if model is None:
        model, tokenizer, stop_ids = load(cfg)
    table = side_by_side(cfg, model, tokenizer, stop_ids, list(cfg.demo.titles))
    atomic_write_jsonl(stages.path(cfg, "demo_rows"), table.to_dict(orient="records"))
    return table


def widget(cfg: Config, model, tokenizer, stop_ids):
    """ipywidgets UI: a title box, greedy / temperature / max tokens, and the two answers side by side."""
    import html

    import ipywidgets as w

    title = w.Text(value=cfg.demo.titles[0], description="Title", layout=w.Layout(width="70%"))
    sample = w.Checkbox(value=False, description="sample (else greedy)")
    temperature = w.FloatSlider(value=cfg.eval.temperature, min=0.1, max=1.5, step=0.05, description="temperature")
    max_tokens = w.IntSlider(value=cfg.eval.max_new_tokens, min=16, max=512, step=16, description="max tokens")
    button = w.Button(description="Generate", button_style="primary")
    base_out, tuned_out = w.HTML(), w.HTML()

    def on_click(_):
        button.disabled = True
        try:
            table = side_by_side(cfg, model, tokenizer, stop_ids, [title.value], do_sample=sample.value,
                                 temperature=temperature.value, max_new_tokens=max_tokens.value)
            base_out.value = f"<b>base</b><p>{html.escape(table['base'][0])}</p>"
            tuned_out.value = f"<b>fine-tuned</b><p>{html.escape(table['fine-tuned'][0])}</p>"
            if "neighbours" in table:
                tuned_out.value += f"<small>neighbours shown: {html.escape(table['neighbours'][0])}</small>"
        finally:
            button.disabled = False

    button.on_click(on_click)
    columns = w.HBox([w.Box([base_out], layout=w.Layout(width="50%")), w.Box([tuned_out], layout=w.Layout(width="50%"))])
    return w.VBox([title, w.HBox([sample, temperature, max_tokens]), button, columns])
