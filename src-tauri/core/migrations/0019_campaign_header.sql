-- A campaign of a template that shows a picture, video or document at its top keeps the uploaded
-- file's Meta media id (JSON: {kind, media_id, filename}); every send names it.
ALTER TABLE campaign ADD COLUMN header_media TEXT;
