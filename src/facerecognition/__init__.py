"""Face recognition: dlib embeddings of face boxes matched against a versioned gallery of people; the
mesh's recognition service."""
