"""The CLI's verbs: each parses its flags into a typed spec and calls one
workflow function (:mod:`analora.workflows`, :mod:`analora.bank`,
:mod:`analora.studies`), then prints what it did. :mod:`analora.cli` imports
only the module of the verb being run."""
