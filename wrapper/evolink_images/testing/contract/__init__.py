"""The contract suite: the client, the fake EvoLink and the spec checked against each other.

It ships in the package so that a team can run it with no checkout, after
``pip install 'evolink-images[testing]'``::

    evolink-images contract-check                 # offline, JUnit report in contract-report.xml
    evolink-images contract-check --live          # the zero-credit live probe (needs EVOLINK_API_KEY)

- ``test_fake``, ``test_schemathesis_*``: the fake against the spec (schemathesis, in-process and on loopback).
- ``test_properties``, ``test_fuzz``: Hypothesis properties of the client against the spec and the fake.
- ``test_fault_matrix`` (``fault_matrix``): every fault crossed with every operation, for both clients.
- ``live_probe``, ``catalog``: the live probe and the catalog check; ``test_live_probe`` proves them on loopback.
- ``run``: what ``evolink-images contract-check`` runs.
"""
