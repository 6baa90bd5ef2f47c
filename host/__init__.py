"""Host-side pre- and post-processing: what turns a user's file into a model input and raw outputs into
answers; none of it runs on the device."""
