"""Distributed search: a chief and two workers on one machine (keras-tuner's chief/worker mode).

Run: ``python examples/distributed_search.py`` (a few minutes on 2 CPU cores).
It starts this same script three times, as a chief and two workers, waits for
them, then prints which worker ran which trial and the final model's accuracy
on a quarter of the digits that nothing trained on. The project is left in
``./autoarch_projects/distributed``, each process's output in
``./autoarch_projects/distributed_logs/``.

The script has two parts. `search` is what you write: an ordinary
``ImageClassifier.fit``, the same in every process. keras-tuner's environment
variables make a process the chief (it serves the oracle) or a worker (it runs
trials). `launch` only sets those variables and starts the processes; by hand,
or on several machines (see the "Scaling out" guide), it is:

    export KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000
    export AUTOARCH_CHIEF_TOKEN=$(python -c "import secrets; print(secrets.token_urlsafe(24))")
    KERASTUNER_TUNER_ID=chief   python examples/distributed_search.py &
    KERASTUNER_TUNER_ID=worker0 python examples/distributed_search.py &
    KERASTUNER_TUNER_ID=worker1 python examples/distributed_search.py &
    wait

Options: ``--max-trials N``, ``--workers N``, ``--directory DIR``,
``--search-space JSON``, ``--timeout SECONDS`` (for the whole run; the
processes are stopped after it) and ``--seed N``.
"""

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PROJECT = "distributed"


def digits(seed):
    """Three quarters of scikit-learn's digits to fit, one quarter to test."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    return train_test_split(data.images, data.target, test_size=0.25, stratify=data.target, random_state=seed)


def search(max_trials=4, seed=0, directory="autoarch_projects", search_space=None):
    """The user's script: the same fit in the chief and in every worker."""
    import autoarch

    x_fit, x_test, y_fit, y_test = digits(seed)
    clf = autoarch.ImageClassifier(
        max_trials=max_trials,
        seed=seed,
        directory=directory,
        project_name=PROJECT,
        overwrite=True,  # only the chief ever clears the project
        search_space=search_space,
        verbose=2,
    )
    clf.fit(x_fit, y_fit)
    me = os.environ["KERASTUNER_TUNER_ID"]
    if hasattr(clf, "model_"):
        print(f"{me}: made the final model, test accuracy {clf.score(x_test, y_test):.4f}", flush=True)
    else:
        print(f"{me}: no model here; {len(clf.results_)} trials in results_", flush=True)


def free_port():
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(arguments, workers=2, directory="autoarch_projects", timeout=1800):
    """Start this script as a chief and ``workers`` workers on 127.0.0.1; returns their exit codes.

    Every process is stopped once ``timeout`` seconds have passed, and when
    anything goes wrong here.
    """
    logs = os.path.join(directory, f"{PROJECT}_logs")
    os.makedirs(logs, exist_ok=True)
    env = {
        **os.environ,
        "KERASTUNER_ORACLE_IP": "127.0.0.1",
        "KERASTUNER_ORACLE_PORT": str(free_port()),
        # The chief answers only calls with this token (see the "Scaling out" guide).
        "AUTOARCH_CHIEF_TOKEN": secrets.token_urlsafe(24),
    }
    names = ["chief"] + [f"worker{index}" for index in range(workers)]
    processes = {}
    try:
        for name in names:
            with open(os.path.join(logs, f"{name}.log"), "w") as log:
                processes[name] = subprocess.Popen(
                    [sys.executable, os.path.abspath(__file__), *arguments],
                    env={**env, "KERASTUNER_TUNER_ID": name},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        give_up = time.monotonic() + timeout
        for process in processes.values():
            process.wait(timeout=max(1.0, give_up - time.monotonic()))
    except subprocess.TimeoutExpired:
        print(f"stopped after {timeout} s", file=sys.stderr)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return {name: process.returncode for name, process in processes.items()}


def report(codes, directory, seed):
    """Print each process's exit code and last line, the trials and the final model's accuracy."""
    import autoarch

    logs = os.path.join(directory, f"{PROJECT}_logs")
    for name, code in codes.items():
        with open(os.path.join(logs, f"{name}.log")) as file:
            lines = [line.strip() for line in file if line.strip()]
        print(f"{name}: exit code {code}; {lines[-1] if lines else '(no output)'}")
    if any(code != 0 for code in codes.values()):
        return 1
    clf = autoarch.load(os.path.join(directory, PROJECT))
    for row in clf.results_:
        print(f"trial {row['trial_id']}: {row['status']} by {row['worker']}, holdout accuracy {row['score']}")
    _, x_test, _, y_test = digits(seed)
    print(f"Test accuracy on held-out digits: {clf.score(x_test, y_test):.4f}")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-trials", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--directory", default="autoarch_projects")
    parser.add_argument("--search-space", type=json.loads, default=None)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if "KERASTUNER_TUNER_ID" in os.environ:  # one of the processes
        search(args.max_trials, args.seed, args.directory, args.search_space)
        return 0
    codes = launch(sys.argv[1:], args.workers, args.directory, args.timeout)
    return report(codes, args.directory, args.seed)


if __name__ == "__main__":
    sys.exit(main())
