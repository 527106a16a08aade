"""The web demo (descgen/app.py): its function for a title gives the predictor's texts, bad input gets a message,
and the page itself, opened in a real headless Chromium, shows exactly those texts."""

from __future__ import annotations

import shutil
import socket

import pytest

from descgen import app, stages
from descgen.predictor import Predictor


@pytest.fixture(scope="module")
def predictor(compared_bf16):
    cfg, _, _ = compared_bf16
    return Predictor.load(cfg, adapter=True)


def test_the_apps_function_returns_the_predictors_texts_for_a_title(predictor):
    title = "Girls Ballet Tutu Neon Pink"
    shown = app.describe_title(predictor, f"  {title} ")
    row = {"uid": None, "title": title}
    answer = predictor.answer([row])[0]
    prompted = predictor.prompted([row])
    assert shown.message == "" and shown.title == title
    assert shown.answer == answer.text and shown.source == answer.source_line
    assert shown.base == predictor.generate(prompted, base=True)[0].text
    assert shown.finetuned == predictor.generate(prompted)[0].text
    assert [n[0] for n in shown.neighbours] == [n["uid"] for n in predictor.neighbour_source.nearest(
        [row], predictor.cfg.retrieval.candidates)[0]]
    for name in ("answer", "base", "finetuned"):  # what was dropped from the answer is shown, marked, in place
        assert "".join(piece for piece, label in shown.highlights[name] if label != "dropped") == getattr(shown, name)


def test_bad_titles_get_a_message_never_a_traceback(predictor):
    assert app.describe_title(predictor, "").message == "Type a product title."
    assert app.describe_title(predictor, "   \n ").message == "Type a product title."
    assert app.describe_title(predictor, "\x00\x01\x02\x03binary\x04\x05\x06\x07\x08").message.startswith(
        "That is not a product title: 9 of its 15 characters")
    assert app.describe_title(predictor, "<br><b></b>").message == (
        "That title is empty once its markup and spacing are removed.")
    long = app.describe_title(predictor, "Ballet Tutu " * 1000)  # 12,000 characters
    assert long.message == "" and long.answer
    assert long.notes == [f"The title was cut to its first {predictor.cfg.prompt.max_title_tokens} tokens "
                          "(prompt.max_title_tokens), as describe cuts it."]
    assert len(predictor.tokenizer(long.title, add_special_tokens=False)["input_ids"]) <= \
        predictor.cfg.prompt.max_title_tokens


def browser():
    """Debian's chromium and chromium-driver (.ci/run installs them): nothing is downloaded at run time."""
    found = [shutil.which(name) for name in ("chromium", "chromedriver")]
    return None if None in found else found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(browser() is None, reason="no Chromium here: apt-get install chromium chromium-driver (.ci/run does)")
def test_the_page_in_a_real_browser_shows_the_predictors_texts_and_the_bad_input_messages(predictor, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    chromium, driver_path = browser()
    port = free_port()
    page = app.build(predictor.cfg, predictor)
    app.serve(page, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1600"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    wait = WebDriverWait(driver, 60)
    try:
        driver.get(f"http://127.0.0.1:{port}/")
        box = wait.until(ready.element_to_be_clickable((By.CSS_SELECTOR, "#title textarea")))

        def ask(text: str) -> None:
            # select-all and delete as a person would: WebElement.clear() fires no input event, so the page would
            # keep sending the previous title
            box.send_keys(Keys.CONTROL, "a")
            box.send_keys(Keys.BACKSPACE)
            box.send_keys(text) if text else None
            driver.find_element(By.ID, "describe").click()

        def paste(text: str) -> None:
            # what a paste does (and binary junk a keyboard cannot type): the value at once, then its input event
            driver.execute_script("arguments[0].value = arguments[1];"
                                  "arguments[0].dispatchEvent(new Event('input', {bubbles: true}));", box, text)
            driver.find_element(By.ID, "describe").click()

        def answer_value() -> str:
            return driver.find_element(By.CSS_SELECTOR, "#answer textarea").get_property("value")

        title = "Stainless Steel French Press Coffee Maker"
        ask(title)
        wait.until(lambda d: answer_value() != "")
        expected = app.describe_title(predictor, title)
        assert answer_value() == expected.answer
        wait.until(lambda d: d.find_element(By.ID, "source").text.strip() != "")
        assert driver.find_element(By.ID, "source").text.strip() == expected.source
        for elem, text in (("base", expected.base), ("finetuned", expected.finetuned)):
            shown = driver.find_element(By.ID, elem).text
            assert " ".join(text.split()) in " ".join(shown.split()), elem
        # the answer as made: every kept and replaced piece in order (dropped ones shown between them, marked)
        shown = " ".join(driver.find_element(By.ID, "answer-facts").text.split())
        at = 0
        for piece, label in expected.highlights["answer"]:
            if label != "dropped" and piece.strip():
                at = shown.find(" ".join(piece.split()), at)
                assert at >= 0, piece
        # Gradio 6's table is virtual (rows drawn as they scroll into view): its grid says how many rows it holds
        grid = (By.CSS_SELECTOR, "#neighbours [role=grid]")
        wait.until(lambda d: d.find_element(*grid).get_attribute("aria-rowcount") == str(len(expected.neighbours) + 1))
        shown = driver.find_element(By.ID, "neighbours").get_attribute("textContent")
        assert all(uid in shown for uid, _, _ in expected.neighbours)
        driver.save_screenshot(str(tmp_path / "describe.png"))

        for typed, message in (("", "Type a product title."),
                               ("\x01\x02\x03\x04\x05\x06\x07", "That is not a product title")):
            paste(typed) if typed else ask(typed)
            wait.until(lambda d: message in d.find_element(By.ID, "message").text)
            assert answer_value() == ""
        paste("Ballet Tutu " * 1000)
        wait.until(lambda d: "was cut to its first" in d.find_element(By.ID, "message").text)
        assert answer_value() == app.describe_title(predictor, "Ballet Tutu " * 1000).answer

        driver.find_element(By.XPATH, "//button[@role='tab' and contains(., 'Evaluation')]").click()
        table = wait.until(ready.visibility_of_element_located((By.ID, "systems")))
        for system in ("finetuned", "retrieval", "gated", "oracle"):
            assert system in table.text
    finally:
        driver.quit()
        page.close()
    assert stages.path(predictor.cfg, "compare_report").exists()


def test_a_full_queue_tells_the_next_person_so_and_a_waiting_one_sees_its_place(predictor, monkeypatch):
    """demo.max_queue requests wait, each with its place in the queue; the next gets Gradio's "queue is full" message,
    never an exception page (bench/app_load.py measures the page under real load)."""
    import threading
    import time

    from gradio_client import Client

    release = threading.Event()

    def slow(predictor_, raw):  # the first request holds the one worker until released
        release.wait(timeout=60)
        return app.Described(message="", title=raw or "", answer=f"answer for {raw}")

    monkeypatch.setattr(app, "describe_title", slow)
    port = free_port()
    page = app.build(predictor.cfg, predictor, max_queue=2)
    app.serve(page, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, analytics_enabled=False, download_files=False)

        def until(check) -> None:
            deadline = time.time() + 30
            while not check():
                assert time.time() < deadline, "timed out"
                time.sleep(0.05)

        running = client.submit("first", api_name="/describe")
        until(lambda: running.status().code.name == "PROCESSING")
        waiting = []
        for i in range(2):  # one after the other, so each one's place is known
            waiting.append(client.submit(f"waiting {i}", api_name="/describe"))
            until(lambda: waiting[-1].status().code.name == "IN_QUEUE")
        assert [job.status().rank for job in waiting] == [0, 1]  # the page shows "queue: 1/2" and "queue: 2/2"
        refused = client.submit("one too many", api_name="/describe")
        with pytest.raises(Exception, match="(?i)queue is full"):
            refused.result(timeout=30)
        release.set()
        assert running.result(timeout=30)[1] == "answer for first"
        assert [job.result(timeout=30)[1] for job in waiting] == ["answer for waiting 0", "answer for waiting 1"]
    finally:
        release.set()
        page.close()


def test_a_copys_family_facts_are_not_marked_unsupported_on_the_page():
    # a series' blurb copied from book 1 for book 3: its founding year, its book count and its praise are the
    # family's (they stand), so the "as made" box marks none of them red; book 1's name, the copied product's own, is
    # marked replaced
    from descgen.copyedit import copy_for
    from descgen.predictor import Answer

    blurb = ("The Last Lighthouse opens the saga. First published in 1952, the Orchard Chronicles now runs to 7 books. "
             "“A triumph.” — Theo Ashgrove")
    title, copied = "Letters from the Valley (Orchard Chronicles Book 3)", "The Last Lighthouse (Orchard Chronicles Book 1)"
    edit = copy_for(blurb, copied, title)
    answer = Answer(edit.text, "copied", "S1", 0.6, 0.96, None, [{"uid": "S1", "title": copied}], edit, title)
    marks = app.answer_marks(answer)
    assert "".join(text for text, label in marks if label != "dropped") == answer.text
    assert "1952" in answer.text and "Theo Ashgrove" in answer.text
    assert [text for text, label in marks if label == "unsupported"] == []
    assert any(label == "replaced" for _, label in marks) and "Last Lighthouse" not in answer.text
