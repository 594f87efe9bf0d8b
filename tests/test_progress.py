"""What a person sees: bars in a terminal only, one line per stage, no library noise, where the results went."""

import fcntl
import os
import pty
import struct
import subprocess
import termios

from tests.support import recipe_command, tiny_args


def in_terminal(command):
    """Run ``command`` with a pseudo-terminal as its stdout and stderr; everything it wrote."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a 120-column terminal
    proc = subprocess.Popen(command, stdout=follower, stderr=follower, stdin=subprocess.DEVNULL)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the follower side closed: the process is done
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=600) == 0, b"".join(chunks).decode(errors="replace")[-3000:]
    return b"".join(chunks).decode(errors="replace")


def test_bars_in_a_terminal_and_never_with_no_progress(tmp_path):
    args = tiny_args("SpeechCommands", tmp_path / "cache", tmp_path / "out")
    shown = in_terminal(recipe_command("SpeechCommands", "influence", *args))
    # corpus synthesis and every training epoch show a bar; the console holds no library noise
    assert "synthesising MiniSpeechCommands" in shown and "%|" in shown
    for noise in ("Model Statistics", "dropout option adds dropout", "Gradscaler", "torchvision", "Warning"):
        assert noise not in shown, noise
    assert "original: epoch 2/2" in shown and "evaluation of 3 models:" in shown
    assert shown.strip().splitlines()[-1].strip() == f"results, model folder and receipt written to {tmp_path / 'out'}"
    quiet = in_terminal(recipe_command("SpeechCommands", "influence", *args, "--no-progress"))
    assert "%|" not in quiet and "it/s" not in quiet and "original model loaded from the cache" in quiet
    # SpeechBrain's own lines still reach log.txt, and each trained model has its train_log.txt
    log = (tmp_path / "out" / "log.txt").read_text()
    assert "Beginning experiment" in log
    assert (tmp_path / "out" / "train_logs" / "original.txt").read_text().startswith("epoch: 1")
