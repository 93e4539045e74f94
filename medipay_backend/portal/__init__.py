"""The clinic admin portal: server-rendered pages (Norwegian) where a clinic's administrators
search their transactions, credit orders, stop claims in collection and download settlement
reports. See docs/portal.md."""
