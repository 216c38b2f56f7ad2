"""The write path: every change this system makes at Google, made exactly once."""
