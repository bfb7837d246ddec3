"""What ``run`` loads and checks before it consumes anything, and the same checks for
``settings --check``, so that the two can never disagree.

    load      the live model (and a shadow's), each policy checked against its categories
    check     the checks that need no model weights: classifiers' labels from their config
              files or metadata, the policy against them, the shadow's settings

Example::

    from worker.startup.check import check_settings
    report = check_settings(settings)
    report.problems        # ["MODERATION_POLICY names unknown categories ['hat']; ..."]
"""
