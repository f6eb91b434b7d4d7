"""ТОВ «Екоспецтранс» (solid-waste collection): REST/JSON behind OAuth2 client credentials."""
