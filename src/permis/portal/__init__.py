"""The citizen portal: public pages (the simulator) and, later, the holder's own pages."""
