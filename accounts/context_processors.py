from accounts import policy


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    return {
        "nav": {
            "can_use_app": policy.can_use_app(user),
            "can_manage_company_settings": policy.can_manage_company_settings(user),
            "can_see_sync_health": policy.can_see_sync_health(user),
            "can_access_admin": policy.can_access_admin(user),
        }
    }
