"""Infrastructure both layers use, and nothing else of fwlab: the argument rules
(:mod:`~fwlab.util.validate`) the norm exponent p (:mod:`~fwlab.util.exponent`), atomic writes
(:mod:`~fwlab.util.atomic`), output folders (:mod:`~fwlab.util.outdir`), lazy package exports
(:mod:`~fwlab.util.lazy`), what a process does first (:mod:`~fwlab.util.process_start`,
:mod:`~fwlab.util.reproducible`), one-line failures (:mod:`~fwlab.util.failure`), command-line
types (:mod:`~fwlab.util.argtypes`), text tables (:mod:`~fwlab.util.table`), environment
variables set for a while (:mod:`~fwlab.util.environ`) and where the notebooks are
(:mod:`~fwlab.util.notebook_dir`)."""
