"""The HTTP side: the resolver and its one error map, the request and response models, the views."""
