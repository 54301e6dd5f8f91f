"""Face recognition: dlib embeddings matched against a versioned gallery; the mesh's recognition service."""
