"""The application: the ``fwlab`` command (:mod:`fwlab.app.cli` and one module per
group of sub-commands), JupyterLab (:mod:`~fwlab.app.lab`), Voilà (:mod:`~fwlab.app.present`),
the exports (:mod:`~fwlab.app.playground_export`, :mod:`~fwlab.app.notebook_html`) and the speed
benchmarks (:mod:`~fwlab.app.bench`). The library never imports this package."""
