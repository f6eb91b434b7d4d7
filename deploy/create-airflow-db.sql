CREATE DATABASE airflow OWNER gateway;
