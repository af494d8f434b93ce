"""What the API and the workers share: settings, errors, the job store, models and codecs."""
