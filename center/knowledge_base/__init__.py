"""Knowledge base: articles, search, the self-service portal and suggestions."""
