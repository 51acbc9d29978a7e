"""What to do and how things stand: the ranked recommendations and the health verdict.

Surfaces over every component's findings and snapshots, each component adding its own rules
through its factory's surface (``Surface.recommendations``, ``Surface.health``):

* ``rules``: what a recommendation rule is (``Item``, ``Context``, ``Rule``) and the
  builders the components' rules share;
* ``current``: what is open now (newest per episode, not resolved, not a day stale);
* ``ranking``: one ranked list of actions (``GET /performance/recommendations``);
* ``health``: one verdict, ok, degraded or critical, with its reasons
  (``GET /performance/health``).

The components read them too (the incidents processor correlates what is open and ranks by
the same points; the exporters publish each open finding's score), so this package sits
under the components in the layers contract and above the component contract.
"""
