"""Earlier releases' import path of the Bulk trigger (now ``salesforce_elt.airflow.triggers``).

Airflow stores a deferred task's trigger by class path: trigger rows written before an upgrade name
``salesforce_elt.triggers.bulk2.Bulk2QueryJobTrigger``, and the triggerer must still load them.
"""
