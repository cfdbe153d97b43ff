DROP TABLE import_file_chunks, import_files;
