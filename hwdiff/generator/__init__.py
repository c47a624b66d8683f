"""The architecture generator: the diffusion core bound to a space (``model``), its condition scales
(``scale``), what it learns from (``training_set``, ``context``), its store on disk (``store``) and its
training (``train``)."""
