# The sign_in example plugin in every SDK language.
plugins-examples:
