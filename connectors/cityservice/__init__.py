"""ТОВ «СІТІСЕРВІС-КР»: building-upkeep requests over REST/JSON, deduplicated by our number, no planned works."""
