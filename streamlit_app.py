"""AlexNet Lab: the Streamlit entry point. A router over app/pages/; nothing is computed here.

    streamlit run streamlit_app.py
"""

import streamlit as st

from alexnet.weights import available
from app import collection, downloads, state

st.set_page_config(page_title="AlexNet Lab", page_icon=":material/neurology:", layout="wide")
state.init()

pages = {
    "Model": [
        st.Page("app/pages/predict.py", title="Predict", icon=":material/photo_camera:", default=True),
        st.Page("app/pages/architecture.py", title="Architecture", icon=":material/account_tree:"),
        st.Page("app/pages/filters.py", title="Filters", icon=":material/palette:"),
        st.Page("app/pages/neighbours.py", title="Neighbours", icon=":material/group_work:"),
    ],
    "Inside the net (ZF)": [
        st.Page("app/pages/deconvnet.py", title="Deconvnet", icon=":material/flashlight_on:"),
        st.Page("app/pages/feature_maps.py", title="Feature maps", icon=":material/grid_view:"),
        st.Page("app/pages/occlusion.py", title="Occlusion", icon=":material/crop_square:"),
        st.Page("app/pages/invariance.py", title="Invariance", icon=":material/rotate_right:"),
        st.Page("app/pages/evolution.py", title="Evolution", icon=":material/timeline:"),
        st.Page("app/pages/filter_quality.py", title="Filter quality", icon=":material/blur_on:"),
        st.Page("app/pages/correspondence.py", title="Correspondence", icon=":material/join_inner:"),
        st.Page("app/pages/layer_features.py", title="Layer features", icon=":material/stacked_line_chart:"),
        st.Page("app/pages/transfer.py", title="Transfer", icon=":material/move_up:"),
    ],
    "After ZF": [
        st.Page("app/pages/attribution.py", title="Attribution", icon=":material/compare:"),
        st.Page("app/pages/featvis.py", title="Feature visualisation", icon=":material/auto_awesome:"),
    ],
    "Training (AK)": [
        st.Page("app/pages/experiments.py", title="Experiments", icon=":material/science:"),
        st.Page("app/pages/claims.py", title="Paper claims", icon=":material/fact_check:"),
    ],
}
nav = st.navigation(pages, expanded=True)  # every page listed (over 10 would fold behind "View more")

with st.sidebar:
    ready = available()
    st.radio("Model", list(state.MODELS), key="model_name",
             format_func=lambda m: state.MODELS[m] + ("" if ready[m] else " (not on this machine)"))
    collection.sidebar()
    current = st.empty()  # filled after the page ran: the page may change the picture
    downloads.panel()

try:
    nav.run()
finally:  # also after a page's st.stop()
    if st.session_state.image_bytes is not None:
        current.caption(f"Current picture: {st.session_state.image_name}")
    else:
        current.empty()
