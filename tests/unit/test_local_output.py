"""The local stack's standard output, which every instance's thread writes its JSON lines to."""

import io
import threading

from local_stack.__main__ import WholeLines


class _YieldsMidLine(io.StringIO):
    """A stream that, given part of a line, lets another thread write before it returns: the race
    a print (the text, then the newline) loses when a thread switch falls between its two writes."""

    def __init__(self) -> None:
        super().__init__()
        self.others_turn = threading.Event()
        self.other_wrote = threading.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        if not text.endswith("\n"):
            self.others_turn.set()
            self.other_wrote.wait(timeout=30)
        return written


def test_a_line_printed_while_another_thread_prints_stays_whole() -> None:
    stream = _YieldsMidLine()
    output = WholeLines(stream)

    def first() -> None:
        print('{"metric": 1}', file=output)
        stream.others_turn.set()  # its line is out: the other thread's turn in any case

    def second() -> None:
        stream.others_turn.wait(timeout=30)
        print('{"log": 2}', file=output)
        stream.other_wrote.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(stream.getvalue().splitlines()) == ['{"log": 2}', '{"metric": 1}']


def test_a_line_written_in_pieces_is_written_once_it_is_whole() -> None:
    stream = io.StringIO()
    output = WholeLines(stream)

    output.write("part ")
    output.write("of one")
    assert stream.getvalue() == ""
    output.write(" line\nand the start of the next")
    assert stream.getvalue() == "part of one line\n"


def test_a_flush_writes_the_unfinished_line_and_the_encoding_is_the_streams() -> None:
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    output = WholeLines(stream)

    output.write("a prompt with no newline")
    output.flush()

    assert stream.buffer.getvalue() == b"a prompt with no newline"
    assert output.encoding == "utf-8"
