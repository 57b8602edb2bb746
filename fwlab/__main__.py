"""``python -m fwlab``: the ``fwlab`` command (:func:`fwlab.app.cli.run`)."""

from fwlab.app.cli import run

if __name__ == "__main__":  # pragma: no cover
    run()
