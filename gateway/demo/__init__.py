"""The bundled demo world: a storefront, a geo database and offline weather."""
