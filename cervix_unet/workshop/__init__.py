"""The workshop: what makes and measures the model (labels, split, data, training, metrics,
evaluation, export, benchmark, model card). Needs the ``train`` extra. The runtime
(``cervix_unet`` outside this folder, the commands excepted) never imports it."""
