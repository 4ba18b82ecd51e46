"""The box's end of the link: one authenticated QUIC connection to the registry, kept up."""
