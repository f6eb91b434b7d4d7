"""КП «Кривбасводоканал»: REST/JSON work orders with idempotent creates and a sequenced change feed."""
