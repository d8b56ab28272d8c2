"""Routing: send each item to the cheapest system that will get it right.

    cascade(A,B[,C…])   A answers; an item whose A-confidence is below the step's
                        threshold goes on to B, and so on; the last member answers the rest
    router(A,B[,C…])    a small encoder embeds the input; a classifier trained on stored
                        bench outcomes predicts, per member, whether it will be right; the
                        first (cheapest) member predicted right enough answers alone
    auto:NAME           a calibrated policy saved in ``$LMSCAPE_HOME/policies/NAME.yaml``

A routed system is a system: :func:`lmscape.route.system.build_routed` is the
``lmscape.systems`` entry point that ``methods.registry.build_system`` hands these
specs to, so bench measures routed systems like any other and the gateway serves
policies. Modules: :mod:`.spec` (parsing), :mod:`.confidence`, :mod:`.curve`
(cost–quality curve, threshold choice), :mod:`.policy` (the YAML file),
:mod:`.members`, :mod:`.cascade`, :mod:`.router`, :mod:`.outcomes` (member outcomes
on calibration items, through the bench runner), :mod:`.calibrate`, :mod:`.system`.
"""
