"""Weight files, one concern in one package: reading torch files safely (`torch_files`), sisr checkpoints
(`checkpoints`), generators from any weight file sisr reads and foreign RRDBNet layouts (`loading`), and the ONNX
export graph (`onnx`)."""
